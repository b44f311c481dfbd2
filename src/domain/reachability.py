"""When WhatsApp cannot reach the shopper, the notification service should try SMS: which
failures mean that, and the key that signals each conversation once (docs/opt-out.md)."""

from __future__ import annotations

from enum import StrEnum


class Unreachable(StrEnum):
    """Why the shopper cannot be reached on WhatsApp (the event's ``detail``)."""

    UNDELIVERABLE = "undeliverable"  # Meta 131026: no WhatsApp account, an old app, a block
    OPTED_OUT = "opted_out"  # the shopper opted out (their words, or Meta 131050)
    INVALID_NUMBER = "invalid_number"  # not a mobile number we can write to


#: Meta error codes that say the number cannot get our message, whatever we send later.
#: 131026 covers a number without WhatsApp, an app too old, terms not accepted and a shopper
#: who blocked the business (Meta does not tell a block apart); 131050 is Meta's own
#: "stopped marketing messages"; 131021 is a message to the sender itself.
UNREACHABLE_CODES: dict[int, Unreachable] = {
    131026: Unreachable.UNDELIVERABLE,
    131050: Unreachable.OPTED_OUT,
    131021: Unreachable.INVALID_NUMBER,
}


def unreachable_by(error_code: int | None) -> Unreachable | None:
    return None if error_code is None else UNREACHABLE_CODES.get(error_code)


def signal_key(
    *, conversation_id: int | None, shipment_id: int | None, status_log_id: int | None
) -> str:
    """One signal per conversation; an event skipped before any conversation (opted out, a
    bad number) is keyed by its attempt instead."""
    if conversation_id is not None:
        return f"conversation:{conversation_id}"
    return f"attempt:{shipment_id}:{status_log_id}"
