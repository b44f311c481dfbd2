"""Webhook bodies shaped exactly like Meta's (compact JSON, non-ASCII escaped as Meta does).

The sandbox uses them to answer as a shopper would; the tests use them to play Meta.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

_sequence = itertools.count(1)


def envelope(value: dict[str, Any], *, waba_id: str = "sandbox", field: str = "messages") -> bytes:
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"value": value, "field": field}]}],
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode()


def template_status(
    meta_template_id: int,
    event: str,
    *,
    name: str,
    language: str = "en",
    waba_id: str = "sandbox",
    reason: str = "NONE",
    pause_title: str | None = None,
) -> bytes:
    """A ``message_template_status_update`` body (docs/meta.md#template-status-webhook)."""
    value: dict[str, Any] = {
        "event": event,
        "message_template_id": meta_template_id,
        "message_template_name": name,
        "message_template_language": language,
        "reason": reason,
        "message_template_category": "UTILITY",
    }
    if pause_title:
        value["other_info"] = {"title": pause_title, "description": f"{name} was paused"}
    return envelope(value, waba_id=waba_id, field="message_template_status_update")


def _value(phone_number_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
        **fields,
    }


def _now() -> str:
    return str(int(time.time()))


def status(
    message_id: str,
    state: str,
    *,
    recipient: str,
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
        title = "Message undeliverable"
        entry["errors"] = [{"code": error_code, "title": title, "message": title}]
    return entry


def statuses_body(entries: Iterable[dict[str, Any]], *, phone_number_id: str = "sandbox") -> bytes:
    return envelope(_value(phone_number_id, statuses=list(entries)))


def _inbound(sender: str, message: dict[str, Any], phone_number_id: str) -> bytes:
    message_id = f"wamid.IN{next(_sequence):06d}{uuid.uuid4().hex[:12]}"
    return envelope(
        _value(
            phone_number_id,
            contacts=[{"profile": {"name": "Shopper"}, "wa_id": sender}],
            messages=[{"from": sender, "id": message_id, "timestamp": _now(), **message}],
        )
    )


def button_tap(
    sender: str, context_id: str, payload: str, label: str, *, phone_number_id: str = "sandbox"
) -> bytes:
    """A quick-reply tap on a template."""
    return _inbound(
        sender,
        {
            "context": {"from": "15550783881", "id": context_id},
            "type": "button",
            "button": {"payload": payload, "text": label},
        },
        phone_number_id,
    )


def interactive_tap(
    sender: str, context_id: str, reply_id: str, title: str, *, phone_number_id: str = "sandbox"
) -> bytes:
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
        phone_number_id,
    )


def text_message(sender: str, text: str, *, phone_number_id: str = "sandbox") -> bytes:
    return _inbound(sender, {"type": "text", "text": {"body": text}}, phone_number_id)


def user_preferences(
    wa_id: str,
    value: str,
    *,
    phone_number_id: str = "sandbox",
    waba_id: str = "sandbox",
    timestamp: int | None = None,
) -> bytes:
    """Meta's ``user_preferences``: the shopper stopped (``stop``) or resumed (``resume``)
    marketing messages in WhatsApp (docs/opt-out.md)."""
    detail = "User requested to stop marketing messages" if value == "stop" else "User resumed"
    return envelope(
        _value(
            phone_number_id,
            contacts=[{"profile": {"name": "Shopper"}, "wa_id": wa_id}],
            user_preferences=[
                {
                    "wa_id": wa_id,
                    "detail": detail,
                    "category": "marketing_messages",
                    "value": value,
                    "timestamp": timestamp or int(time.time()),
                }
            ],
        ),
        waba_id=waba_id,
        field="user_preferences",
    )
