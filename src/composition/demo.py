"""``fdr-whatsapp demo``: the whole service in one process, always with Meta's sandbox.

The configured database (SQLite by default), cache and event source, a worker in the same
process, and the sandbox in place of Meta whatever ``WA_META_*`` says: a demo never messages a
real phone. Events come in through ``POST /pubsub/push/fdr`` (or ``fdr-whatsapp sandbox event
FILE``); the shopper is played with ``fdr-whatsapp sandbox reply``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import socket
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from infrastructure.config import Config


def sandboxed(config: Config) -> Config:
    """``config`` with Meta's sandbox and none of the real credentials; webhooks are checked
    with a secret made for this run (``fdr-whatsapp sandbox`` reads it from a file)."""
    return dataclasses.replace(
        config,
        meta_sandbox=True,
        meta_app_secret=secrets.token_urlsafe(32),
        meta_phone_number_id=None,
        meta_waba_id=None,
        meta_access_token=None,
    )


def banner(config: Config, base: str) -> list[str]:
    """What the demo really runs on, one line each (the portal token is printed after)."""
    events = (
        f"Pub/Sub subscription {config.pubsub_fdr_subscription}"
        if config.pubsub_project and config.pubsub_fdr_subscription
        else "in-process (POST /pubsub/push/fdr)"
    )
    return [
        f"fdr-whatsapp demo on {base}",
        "  WhatsApp:    Meta sandbox: nothing is sent to WhatsApp, whatever WA_META_* says",
        f"  database:    {config.database_label()}",
        f"  cache:       {'Redis' if config.redis_url else 'in-process'}",
        f"  events:      {events}",
        f"  ESB:         {config.esb_url or 'none: actions are recorded only'}",
        f"  API docs:    {base}/schema",
        f"  console:     {base}/console (open the log-in link below)",
        f"  readiness:   {base}/health/ready",
    ]


def start_clean(config: Config) -> str:
    """How to begin again with an empty database, one line."""
    url = make_url(config.database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        path = Path(url.database).resolve()
        return f"stop the demo and delete {path} (made again at start)"
    return f"stop the demo, drop and create the database {url.database or ''} again"


def listening_socket(host: str, port: int) -> socket.socket | None:
    """The demo's port, bound before anything is printed; ``None`` when it is taken."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        return None
    return sock


def run_demo(config: Config, host: str, port: int) -> int:
    import uvicorn

    from application.ports.collaborators import EventSource
    from composition.container import build_container
    from entrypoints.http.access_log import AccessLog
    from entrypoints.http.app import create_app
    from entrypoints.http.console.session import OneTimeLogins
    from entrypoints.http.portal.auth import dev_token, with_dev_secret
    from entrypoints.sandbox import write_secret
    from entrypoints.worker import Worker, recheck_interval
    from infrastructure.db import migrations

    sock = listening_socket(host, port)
    if sock is None:
        print(
            f"port {port} on {host} is taken (another demo?): stop it, or use --port",
            file=sys.stderr,
        )
        return 1
    own_auth = bool(config.auth_jwt_secret or config.auth_jwks_url)
    base = f"http://{host}:{port}"
    config = with_dev_secret(sandboxed(dataclasses.replace(config, public_base_url=base)))
    migrations.upgrade(config.database_url, default_account_id=config.default_account_id)
    container = build_container(config)
    app = create_app(container)
    logins = OneTimeLogins()
    app.state[OneTimeLogins.STATE_KEY] = logins
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def start_worker() -> None:
        source = await container.get(EventSource)
        worker = Worker(
            container,
            source,
            concurrency=config.worker_concurrency,
            recheck_every=recheck_interval(config),
        )
        tasks.append(asyncio.create_task(worker.run(stop)))

    async def stop_worker() -> None:
        stop.set()
        if tasks:
            await asyncio.wait(tasks, timeout=10)

    app.on_startup.append(start_worker)
    app.on_shutdown.insert(0, stop_worker)
    for line in banner(config, base):
        print(line)
    print(f"  start clean: {start_clean(config)}")
    if own_auth:
        print("  portal:      tokens from your WA_AUTH_JWT_SECRET / WA_AUTH_JWKS_URL")
    else:
        token = dev_token(config)
        print(f"  log in:      {base}/console/login/once?code={logins.issue(token)} (works once)")
        print(f"  portal token (every workspace, this run only): {token}")
    print(f"  send an FDR: fdr-whatsapp sandbox --url {base} event --reason customer_unavailable")
    print(
        f"  answer it:   fdr-whatsapp sandbox --url {base} reply <shipment id> --button reattempt"
    )
    print("  requests are logged below, one line each")
    sys.stdout.flush()
    assert config.meta_app_secret
    secret = write_secret(port, config.meta_app_secret)
    server = uvicorn.Server(
        uvicorn.Config(AccessLog(app), log_config=None, access_log=False, lifespan="on")
    )
    try:
        server.run(sockets=[sock])
    finally:
        secret.unlink(missing_ok=True)
        sock.close()
    return 0
