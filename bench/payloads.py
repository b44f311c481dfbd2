"""Meta-shaped, signed webhook bodies and the outgoing messages they report on.

Bodies are built with the service's own ``webhook_builder`` (compact JSON, non-ASCII escaped as
Meta does) and signed with ``sign``, exactly as Meta signs them. Status values carry
``contacts`` too, as Meta's newer payloads do: pywa 4.5 cannot build a status update without
them (see BENCHMARKS.md), and the peer must parse the same bytes we do.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from infrastructure.db.tables import conversations, outgoing_messages
from infrastructure.meta import webhook_builder
from infrastructure.meta.webhook import sign

PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
DISPLAY_PHONE = "15550783881"
ACCESS_TOKEN = "EAAG-bench-token"  # noqa: S105 - the fake's, not a credential
APP_SECRET = "bench_app_secret"  # noqa: S105 - signs the bench's own bodies
BENCH_ACCOUNT_ID = 4242
#: Three ticks per message, as Meta sends them (docs/meta.md#statuses).
TICKS = ("sent", "delivered", "read")
#: One clock for the whole run, so a body built twice is the same bytes (a Meta retry).
BASE_TIME = int(datetime.now(UTC).timestamp()) - 600


@dataclass(frozen=True, slots=True)
class Seeded:
    """A template message already sent: the conversation and Meta's id for it."""

    conversation_id: int
    message_id: str  # the wamid
    phone: str


@dataclass(frozen=True, slots=True)
class Webhook:
    """One POST as Meta would send it."""

    body: bytes
    signature: str
    updates: int  # statuses or messages in the body


def wamid(n: int) -> str:
    return f"wamid.BENCH{n:012d}"


def phone(n: int) -> str:
    return f"9198{n % 100_000_000:08d}"


async def seed_messages(engine: AsyncEngine, first: int, count: int) -> list[Seeded]:
    """``count`` open conversations, each with its template sent (ids from ``first`` on)."""
    now = datetime.now(UTC).replace(microsecond=0)
    seeded = [Seeded(first + i, wamid(first + i), phone(first + i)) for i in range(count)]
    chunk = 2000
    async with engine.begin() as conn:
        for start in range(0, count, chunk):
            part = seeded[start : start + chunk]
            await conn.execute(
                insert(conversations),
                [
                    {
                        "id": s.conversation_id,
                        "account_id": BENCH_ACCOUNT_ID,
                        "shipment_id": s.conversation_id,
                        "external_shipment_id": f"BENCH-{s.conversation_id}",
                        "shipment_status_log_id": s.conversation_id,
                        "order_number": f"ORD{s.conversation_id}",
                        "tracking_id": f"TRK{s.conversation_id}",
                        "reason": "customer_unavailable",
                        "customer_phone": s.phone,
                        "customer_name": "Bench Shopper",
                        "brand": "Bench",
                        "whatsappSenderConnectionId": 0,
                        "wa_template_id": None,
                        "state": "open",
                        "root_message_id": s.message_id,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for s in part
                ],
            )
            await conn.execute(
                insert(outgoing_messages),
                [
                    {
                        "id": s.conversation_id,
                        "conversation_id": s.conversation_id,
                        "kind": "template",
                        "client_ref": f"bench-{s.conversation_id}",
                        "shipment_status_log_id": s.conversation_id,
                        "whatsappSenderConnectionId": 0,
                        "customer_phone": s.phone,
                        "business_phone": DISPLAY_PHONE,
                        "message_id": s.message_id,
                        "payload": "{}",
                        "status": "accepted",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for s in part
                ],
            )
    return seeded


def _value(**fields: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_PHONE, "phone_number_id": PHONE_NUMBER_ID},
        **fields,
    }


def _status(message: Seeded, tick: str, base_time: int) -> dict[str, Any]:
    entry = webhook_builder.status(
        message.message_id,
        tick,
        recipient=message.phone,
        timestamp=str(base_time + TICKS.index(tick)),
        callback=f"bench-{message.conversation_id}",
    )
    if tick != "read":  # Meta prices the sent tick and one of delivered/read
        entry["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "type": "regular",
            "category": "utility",
        }
    return entry


def signed(body: bytes, updates: int) -> Webhook:
    return Webhook(body, sign(body, APP_SECRET), updates)


def status_webhooks(messages: Sequence[Seeded], per_body: int) -> Iterator[Webhook]:
    """Every tick of every message, ``per_body`` statuses per POST, in the order Meta sends."""
    ticks = ((m, t) for m in messages for t in TICKS)
    while True:
        batch = list(itertools.islice(ticks, per_body))
        if not batch:
            return
        value = _value(
            contacts=[
                {"profile": {"name": "Bench Shopper"}, "wa_id": m.phone}
                for m in dict.fromkeys(m for m, _ in batch)
            ],
            statuses=[_status(m, t, BASE_TIME) for m, t in batch],
        )
        yield signed(webhook_builder.envelope(value, waba_id=WABA_ID), len(batch))


def reply_webhook(message: Seeded, button_id: str = "choose_date") -> Webhook:
    """The shopper taps a quick-reply button of the template (one message per POST)."""
    body = webhook_builder.button_tap(
        message.phone,
        message.message_id,
        # No reference: the tap is bound through the template it quotes (its context).
        f"fdr:{message.conversation_id}::{button_id}",
        "Choose a date",
        phone_number_id=PHONE_NUMBER_ID,
    )
    return signed(body, 1)


def http_request(path: str, hook: Webhook) -> bytes:
    """The whole HTTP/1.1 request, framed once before the clock starts."""
    head = (
        f"POST {path} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        "User-Agent: facebookexternalua\r\n"
        "Content-Type: application/json\r\n"
        f"X-Hub-Signature-256: {hook.signature}\r\n"
        f"Content-Length: {len(hook.body)}\r\n"
        "\r\n"
    )
    return head.encode() + hook.body
