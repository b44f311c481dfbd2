"""The floor: the least a receiver and a sender can do on this stack, to compare ours against.

- **receiver**: a Litestar route under uvicorn (as ``serve``) that checks Meta's
  ``X-Hub-Signature-256`` over the raw body, inserts the body into MariaDB with asyncmy (the
  service's driver; its own connection pool, no ORM) and answers 200. Nothing else: no
  dependency injection, no pump, no middleware.
- **sender**: pulls from the Pub/Sub emulator with gcloud-aio (as the worker), POSTs one
  template send per event to the Meta fake with httpx (as the worker), acknowledges.
  Nothing else: no database, no limiter, no settings.
- **status writer** (``apply_statuses``, in the bench's process): applies Meta's status
  bodies to the service's tables with asyncmy and the simplest correct multi-row SQL, 500
  statuses a transaction as the pump, its values in MariaDB's binary protocol (no escaping;
  Stop 13's floor escaped them: ``binary=False``): each body stored (``bench_ref_inbox``),
  the messages looked up by wamid, every status logged with one bulk ``INSERT IGNORE``, and each
  message moved forward only with one ``UPDATE ... WHERE status IN (its predecessors)`` per
  new status. Nothing else: no HTTP, no timeline events, no conversations, no problems.

    python -m bench.reference receiver --port 8200 --database-url mysql+asyncmy://... --secret S
    python -m bench.reference sender --emulator 127.0.0.1:8085 --subscription projects/p/... \
        --meta http://127.0.0.1:8123 --concurrency 128
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Litestar, MediaType, Request, Response, get, post

REFERENCE_TABLE = "bench_ref_inbox"
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {REFERENCE_TABLE} ("
    "id BIGINT AUTO_INCREMENT PRIMARY KEY, body LONGBLOB NOT NULL, "
    "received_at DATETIME(6) NOT NULL) ENGINE=InnoDB"
)
_INSERT = "INSERT INTO bench_ref_inbox (body, received_at) VALUES (%s, UTC_TIMESTAMP(6))"


def _connect_args(database_url: str) -> dict[str, Any]:
    """asyncmy's arguments for the bench's database (no ORM, no service code)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    return {
        "host": url.host or "127.0.0.1",
        "port": url.port or 3306,
        "user": url.username or "root",
        "password": url.password or "",
        "db": url.database,
        "autocommit": False,
    }


def _receiver(port: int, database_url: str, secret: str) -> None:
    import asyncmy
    import uvicorn

    key = secret.encode()
    pools: list[Any] = []

    async def open_pool() -> None:
        pool = await asyncmy.create_pool(
            **_connect_args(database_url),
            minsize=1,
            maxsize=10,  # the service's pool size
        )
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(_CREATE)
        pools.append(pool)

    async def close_pool() -> None:
        for pool in pools:
            pool.close()
            await pool.wait_closed()

    paths = ["/webhooks/whatsapp", "/webhooks/whatsapp/{connection_id:int}"]

    @post(paths, media_type=MediaType.TEXT)
    async def receive(request: Request[Any, Any, Any]) -> Response[str]:
        body = await request.body()
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("x-hub-signature-256", ""), expected):
            return Response("bad signature", status_code=401)
        async with pools[0].acquire() as conn:
            async with conn.cursor() as cur:
                await cur.execute(_INSERT, (body,))
            await conn.commit()
        return Response("ok", status_code=200)

    @get("/health/ready", media_type=MediaType.TEXT)
    async def health() -> str:
        return "ok"

    app = Litestar(
        route_handlers=[receive, health],
        on_startup=[open_pool],
        on_shutdown=[close_pool],
        debug=False,
        logging_config=None,
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


async def _sender(emulator: str, subscription: str, meta: str, concurrency: int) -> None:
    import httpx
    from gcloud.aio.pubsub import SubscriberMessage

    from infrastructure.pubsub.client import PollingSubscriberClient

    subscriber = PollingSubscriberClient(api_root=f"http://{emulator}/v1", api_is_dev=True)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = httpx.AsyncClient(base_url=meta, limits=limits, timeout=30)
    acks: list[str] = []

    async def send(message: SubscriberMessage) -> None:
        event = json.loads(message.data or b"{}")
        shipment = event["response_data"]["id"]
        payload = {
            "messaging_product": "whatsapp",
            "to": "919800000000",
            "type": "template",
            "template": {
                "name": "fdr",
                "language": {"code": "en"},
                "components": [
                    {
                        "type": "button",
                        "sub_type": "url",
                        "index": "0",
                        "parameters": [{"type": "text", "text": f"/track/whatsapp/{shipment}"}],
                    }
                ],
            },
        }
        answer = await client.post("/v21.0/bench/messages", json=payload)
        answer.raise_for_status()
        acks.append(message.ack_id)

    async def flush_acks() -> None:
        while True:
            await asyncio.sleep(0.05)
            if acks:
                batch = acks[:]
                del acks[: len(batch)]
                await subscriber.acknowledge(subscription, batch)

    print("sender started", flush=True)
    # The worker's loop, without its work: pull what fits in the free slots, send each
    # message in a task of its own, acknowledge in batches every 50 ms.
    flusher = asyncio.create_task(flush_acks())
    in_flight: set[asyncio.Task[None]] = set()
    while not flusher.done():
        free = concurrency - len(in_flight)
        if free <= 0:
            await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            continue
        messages = await subscriber.pull_now(subscription, min(free, 100))
        if not messages:
            await asyncio.sleep(0.05)
            continue
        for message in messages:
            task = asyncio.create_task(send(message))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)


class _Status(msgspec.Struct):
    id: str
    status: str
    timestamp: str
    biz_opaque_callback_data: str | None = None
    errors: list[dict[str, Any]] | None = None
    pricing: dict[str, Any] | None = None


class _Value(msgspec.Struct):
    statuses: list[msgspec.Raw] = []


class _Change(msgspec.Struct):
    value: _Value


class _Entry(msgspec.Struct):
    changes: list[_Change]


class _Body(msgspec.Struct):
    entry: list[_Entry]


#: Which stored statuses each new one may replace (a status never goes back).
_BEFORE = {
    "sent": ("accepted", "pending", "queued", "retrying", "unknown"),
    "delivered": ("accepted", "pending", "queued", "retrying", "sent", "unknown"),
    "read": ("accepted", "delivered", "pending", "queued", "retrying", "sent", "unknown"),
    "failed": ("accepted", "delivered", "pending", "queued", "read", "retrying", "sent", "unknown"),
}
_FAILED = (
    "UPDATE wa_outgoing_messages SET status = 'failed', error_code = %s, error_title = %s,"
    " updated_at = %s WHERE id = %s AND status IN ('accepted', 'delivered', 'pending',"
    " 'queued', 'read', 'retrying', 'sent', 'unknown')"
)
_RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}
_LOG_COLUMNS = [
    "wa_outgoing_message_id",
    "message_id",
    "status",
    "client_ref",
    "error_code",
    "error_title",
    "payload",
    "external_timestamp",
    "created_at",
    "updated_at",
    "pricing_billable",
    "pricing_model",
    "pricing_category",
    "pricing_type",
]


def _log(rows: list[tuple[Any, ...]]) -> tuple[str, list[tuple[Any, ...]]]:
    """The status log's ``INSERT IGNORE`` without the columns NULL in every row (MariaDB's
    bulk command needs a type for each column; they default to NULL anyway)."""
    keep = [i for i in range(len(_LOG_COLUMNS)) if any(r[i] is not None for r in rows)]
    sql = (
        f"INSERT IGNORE INTO wa_dlr_messages ({', '.join(_LOG_COLUMNS[i] for i in keep)})"  # noqa: S608
        f" VALUES ({', '.join(['%s'] * len(keep))})"
    )
    return sql, [tuple(r[i] for i in keep) for r in rows]


#: Prepared statements the binary floor keeps: its few shapes (look-ups and updates of a
#: chunk's sizes) without preparing them again.
_STATEMENTS = 64


async def apply_statuses(
    database_url: str, bodies: Sequence[bytes], per_transaction: int = 500, *, binary: bool = True
) -> dict[str, Any]:
    """Applies ``bodies``; the CPU seconds of this process and the wall seconds it took.

    ``binary`` (the floor since Stop 14): asyncmy's statement cache on, so every statement
    with parameters is a server-side prepared statement, its values sent in binary form, and
    the status log's ``executemany`` one MariaDB bulk command (``COM_STMT_BULK_EXECUTE``):
    nothing escaped, the 223 KB bodies included. Without: the text protocol, every value
    escaped into the SQL (Stop 13's floor)."""
    import asyncmy

    decode = msgspec.json.Decoder(_Body).decode
    status = msgspec.json.Decoder(_Status).decode
    conn = await asyncmy.connect(
        **_connect_args(database_url), stmt_cache_size=_STATEMENTS if binary else 0
    )
    cpu0, wall0, applied = time.process_time(), time.monotonic(), 0
    try:
        async with conn.cursor() as cur:
            await cur.execute(_CREATE)
        await conn.commit()
        rows: list[tuple[_Status, str]] = []
        for body in bodies:
            async with conn.cursor() as cur:
                await cur.execute(_INSERT, (body,))
            await conn.commit()
            for entry in decode(body).entry:
                for change in entry.changes:
                    rows += [(status(raw), bytes(raw).decode()) for raw in change.value.statuses]
        rows.sort(key=lambda r: r[0].id)  # a message's ticks in one transaction
        for start in range(0, len(rows), per_transaction):
            applied += await _apply(conn, rows[start : start + per_transaction])
    finally:
        conn.close()
    return {
        "statuses": applied,
        "cpu_seconds": time.process_time() - cpu0,
        "wall_seconds": time.monotonic() - wall0,
    }


async def _apply(conn: Any, rows: list[tuple[Any, str]]) -> int:
    now = datetime.now(UTC).replace(tzinfo=None)
    wamids = sorted({s.id for s, _ in rows})
    async with conn.cursor() as cur:
        marks = ", ".join(["%s"] * len(wamids))
        await cur.execute(
            f"SELECT message_id, id FROM wa_outgoing_messages WHERE message_id IN ({marks})",  # noqa: S608
            wamids,
        )
        ids = dict(await cur.fetchall())
        log: list[tuple[Any, ...]] = []
        last: dict[str, tuple[str, dict[str, Any]]] = {}
        for s, payload in rows:
            error = (s.errors or [{}])[0]
            pricing = s.pricing or {}
            log.append(
                (
                    ids.get(s.id),
                    s.id,
                    s.status,
                    s.biz_opaque_callback_data,
                    error.get("code"),
                    error.get("title"),
                    payload,
                    datetime.fromtimestamp(int(s.timestamp), UTC).replace(tzinfo=None),
                    now,
                    now,
                    pricing.get("billable"),
                    pricing.get("pricing_model"),
                    pricing.get("category"),
                    pricing.get("type"),
                )
            )
            if s.id in ids and _RANK[s.status] >= _RANK.get(last.get(s.id, ("", {}))[0], 0):
                last[s.id] = (s.status, error)
        await cur.executemany(*_log(log))
        by_status: dict[str, list[int]] = {}
        for wamid, (new, error) in last.items():
            if new == "failed":  # each with its own error
                await cur.execute(_FAILED, (error.get("code"), error.get("title"), now, ids[wamid]))
            else:
                by_status.setdefault(new, []).append(ids[wamid])
        for new, moved in by_status.items():
            await cur.execute(
                f"UPDATE wa_outgoing_messages SET status = %s, updated_at = %s"  # noqa: S608
                f" WHERE id IN ({', '.join(['%s'] * len(moved))})"
                f" AND status IN ({', '.join(['%s'] * len(_BEFORE[new]))})",
                (new, now, *moved, *_BEFORE[new]),
            )
    await conn.commit()
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="role", required=True)
    receiver = sub.add_parser("receiver")
    receiver.add_argument("--port", type=int, required=True)
    receiver.add_argument("--database-url", required=True)
    receiver.add_argument("--secret", required=True)
    sender = sub.add_parser("sender")
    sender.add_argument("--emulator", required=True)
    sender.add_argument("--subscription", required=True)
    sender.add_argument("--meta", required=True)
    sender.add_argument("--concurrency", type=int, default=128)
    args = parser.parse_args()
    if args.role == "receiver":
        _receiver(args.port, args.database_url, args.secret)
    else:
        asyncio.run(_sender(args.emulator, args.subscription, args.meta, args.concurrency))


if __name__ == "__main__":
    main()
