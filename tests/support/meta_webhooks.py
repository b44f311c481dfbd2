"""Webhook bodies as Meta sends them (compact JSON, non-ASCII escaped) and their signatures."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable
from typing import Any

from infrastructure.meta.webhook import sign

WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
_ids = itertools.count(1)


def _envelope(value: dict[str, Any]) -> bytes:
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}],
    }
    # Meta escapes non-ASCII as \\uXXXX: json.dumps does the same by default.
    return json.dumps(body, separators=(",", ":")).encode()


def _value(**fields: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        **fields,
    }


def _now() -> str:
    return str(int(time.time()))


def status(
    message_id: str,
    state: str,
    *,
    recipient: str = "917891971009",
    timestamp: str | None = None,
    callback: str | None = None,
    error_code: int | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": message_id,
        "status": state,
        "timestamp": timestamp or _now(),
        "recipient_id": recipient,
    }
    if callback:
        entry["biz_opaque_callback_data"] = callback
    if error_code is not None:
        entry["errors"] = [
            {
                "code": error_code,
                "title": "Message undeliverable",
                "message": "Message undeliverable",
            }
        ]
    return entry


def statuses_body(entries: Iterable[dict[str, Any]]) -> bytes:
    return _envelope(_value(statuses=list(entries)))


def _inbound(sender: str, message: dict[str, Any]) -> bytes:
    return _envelope(
        _value(
            contacts=[{"profile": {"name": "Aman Verma"}, "wa_id": sender}],
            messages=[
                {"from": sender, "id": f"wamid.IN{next(_ids):08d}", "timestamp": _now(), **message}
            ],
        )
    )


def button_tap(sender: str, context_id: str, payload: str, label: str) -> bytes:
    """A quick-reply tap on a template."""
    return _inbound(
        sender,
        {
            "context": {"from": "15550783881", "id": context_id},
            "type": "button",
            "button": {"payload": payload, "text": label},
        },
    )


def interactive_tap(sender: str, context_id: str, reply_id: str, title: str) -> bytes:
    return _inbound(
        sender,
        {
            "context": {"from": "15550783881", "id": context_id},
            "type": "interactive",
            "interactive": {
                "type": "button_reply",
                "button_reply": {"id": reply_id, "title": title},
            },
        },
    )


def text_message(sender: str, text: str) -> bytes:
    return _inbound(sender, {"type": "text", "text": {"body": text}})


def signed(body: bytes, secret: str) -> dict[str, str]:
    return {"X-Hub-Signature-256": sign(body, secret), "Content-Type": "application/json"}
