"""What the shopper reads: template values from a failed delivery, and button payloads."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from decimal import Decimal

from domain.conversation import Conversation
from domain.failed_delivery import FailedDelivery
from domain.templates import TemplateVariable

_PAYLOAD_PREFIX = "fdr"


def template_values(
    fdr: FailedDelivery, *, tracking_link: str, support_phone: str, support_email: str
) -> dict[TemplateVariable, str]:
    """Every variable a template may ask for, none empty (Meta refuses empty parameters)."""
    national_phone = "".join(ch for ch in fdr.customer_phone if ch.isdigit())[-10:]
    return {
        TemplateVariable.FIRST_NAME: fdr.first_name,
        TemplateVariable.BRAND: fdr.brand or fdr.account_slug or "your",
        TemplateVariable.ORDER_NUMBER: fdr.order_number or fdr.external_shipment_id or "-",
        TemplateVariable.ITEM_COUNT: str(fdr.item_count or len(fdr.items) or 1),
        TemplateVariable.ITEM_LINES: fdr.item_lines() or "your order",
        TemplateVariable.TRACKING_LINK: tracking_link,
        TemplateVariable.CUSTOMER_PHONE: national_phone or "-",
        TemplateVariable.DELIVERY_ADDRESS: fdr.shipping_address.one_line() or "-",
        TemplateVariable.AMOUNT_DUE: format_amount(fdr.amount_due),
        TemplateVariable.SUPPORT_PHONE: support_phone,
        TemplateVariable.SUPPORT_EMAIL: support_email,
        TemplateVariable.COURIER: fdr.courier or "our courier",
        TemplateVariable.TRACKING_ID: fdr.tracking_id or "-",
    }


#: The query parameter of a tracking link that carries the conversation's reference.
LINK_REF = "r"


def tracking_link(base_url: str, conversation: Conversation) -> str:
    """The link the shopper gets: our ``/track/whatsapp/{shipment_id}``, with the conversation's
    random reference, without which the tracking page's stand-in shows nothing (a shipment id
    alone is guessable)."""
    link = f"{base_url}/track/whatsapp/{conversation.shipment_id}"
    return f"{link}?{LINK_REF}={conversation.reply_ref}" if conversation.reply_ref else link


def link_ref_matches(conversation: Conversation, ref: str) -> bool:
    """``ref`` is the conversation's reference (compared in constant time)."""
    return bool(conversation.reply_ref) and hmac.compare_digest(
        (conversation.reply_ref or "").encode(), ref.encode()
    )


def format_amount(amount: Decimal | None) -> str:
    """``888`` or ``1889.10``: rupees as the seed writes them after "Rs"."""
    if amount is None:
        return "the order amount"
    if amount == amount.to_integral_value():
        return str(int(amount))
    return f"{amount:.2f}"


@dataclass(frozen=True, slots=True)
class ButtonPayload:
    """What a quick-reply button of our template carries back (docs/webhooks.md, "Binding")."""

    conversation_id: int
    reply_ref: str | None  # None: a payload from before references (trusted only via context)
    button_id: str


def button_payload(conversation: Conversation, button_id: str) -> str:
    """The conversation, its random reference and the action: a tap can name a conversation
    only by knowing the reference, which only that shopper's template carried."""
    return f"{_PAYLOAD_PREFIX}:{conversation.id}:{conversation.reply_ref or ''}:{button_id}"


def parse_button_payload(payload: str) -> ButtonPayload | None:
    parts = payload.split(":")
    if len(parts) == 3:  # fdr:<id>:<button>, sent before references existed
        parts = [parts[0], parts[1], "", parts[2]]
    if len(parts) != 4:
        return None
    prefix, conversation, ref, button_id = parts
    if prefix != _PAYLOAD_PREFIX or not conversation.isdigit() or not button_id:
        return None
    if len(conversation) > 19:
        return None
    return ButtonPayload(int(conversation), ref or None, button_id)


def reference_matches(conversation: Conversation, payload: ButtonPayload) -> bool:
    """The payload's reference is the conversation's (compared in constant time)."""
    if not conversation.reply_ref or not payload.reply_ref:
        return False
    return hmac.compare_digest(conversation.reply_ref, payload.reply_ref)
