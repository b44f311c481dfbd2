"""Playing Meta in tests: the service's own webhook builders, with the test sender's ids."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from infrastructure.meta import webhook_builder as build
from infrastructure.meta.webhook import sign

PHONE_NUMBER_ID = "106540352242922"
SHOPPER = "917891971009"


def status(message_id: str, state: str, **fields: Any) -> dict[str, Any]:
    return build.status(message_id, state, recipient=fields.pop("recipient", SHOPPER), **fields)


def statuses_body(entries: Iterable[dict[str, Any]]) -> bytes:
    return build.statuses_body(entries, phone_number_id=PHONE_NUMBER_ID)


def button_tap(sender: str, context_id: str, payload: str, label: str) -> bytes:
    return build.button_tap(sender, context_id, payload, label, phone_number_id=PHONE_NUMBER_ID)


def interactive_tap(sender: str, context_id: str, reply_id: str, title: str) -> bytes:
    return build.interactive_tap(
        sender, context_id, reply_id, title, phone_number_id=PHONE_NUMBER_ID
    )


def text_message(sender: str, text: str) -> bytes:
    return build.text_message(sender, text, phone_number_id=PHONE_NUMBER_ID)


def signed(body: bytes, secret: str) -> dict[str, str]:
    return {"X-Hub-Signature-256": sign(body, secret), "Content-Type": "application/json"}


def user_preferences(wa_id: str, value: str) -> bytes:
    return build.user_preferences(wa_id, value, phone_number_id=PHONE_NUMBER_ID)
