"""``fdr-whatsapp demo``: the whole service in one process on SQLite, with Meta's sandbox.

SQLite, the in-process cache and limiter, an in-process event source with its worker, and the
sandbox in place of Meta. Events come in through ``POST /pubsub/push/fdr`` (or
``fdr-whatsapp sandbox event FILE``); the shopper is played with ``fdr-whatsapp sandbox reply``.
"""

from __future__ import annotations

import asyncio
import dataclasses

from infrastructure.config import Config


def run_demo(config: Config, host: str, port: int) -> int:
    import uvicorn

    from application.ports.collaborators import EventSource
    from entrypoints.http.app import create_app
    from entrypoints.http.portal.auth import dev_token, with_dev_secret
    from entrypoints.wiring import build_container
    from entrypoints.worker import Worker
    from infrastructure.db import migrations

    own_auth = bool(config.auth_jwt_secret or config.auth_jwks_url)
    config = with_dev_secret(dataclasses.replace(config, public_base_url=f"http://{host}:{port}"))
    migrations.upgrade(config.database_url, default_account_id=config.default_account_id)
    container = build_container(config)
    app = create_app(container)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def start_worker() -> None:
        source = await container.get(EventSource)
        worker = Worker(container, source, concurrency=config.worker_concurrency)
        tasks.append(asyncio.create_task(worker.run(stop)))

    async def stop_worker() -> None:
        stop.set()
        if tasks:
            await asyncio.wait(tasks, timeout=10)

    app.on_startup.append(start_worker)
    app.on_shutdown.insert(0, stop_worker)
    base = f"http://{host}:{port}"
    print(f"fdr-whatsapp demo on {base} (SQLite, in-process cache and events, Meta sandbox)")
    print(f"  API docs:    {base}/schema")
    print(f"  console:     {base}/console (log in with the token below)")
    print(f"  readiness:   {base}/health/ready")
    if own_auth:
        print("  portal:      tokens from your WA_AUTH_JWT_SECRET / WA_AUTH_JWKS_URL")
    else:
        print(f"  portal token (every workspace, this run only): {dev_token(config)}")
    print(f"  send an FDR: fdr-whatsapp sandbox --url {base} event event.json")
    print(
        f"  answer it:   fdr-whatsapp sandbox --url {base} reply <shipment id> --button reattempt"
    )
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
    return 0
