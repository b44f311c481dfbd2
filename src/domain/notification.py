"""What the shopper reads: template values from a failed delivery, and button payloads."""

from __future__ import annotations

from decimal import Decimal

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


def format_amount(amount: Decimal | None) -> str:
    """``888`` or ``1889.10``: rupees as the seed writes them after "Rs"."""
    if amount is None:
        return "the order amount"
    if amount == amount.to_integral_value():
        return str(int(amount))
    return f"{amount:.2f}"


def button_payload(conversation_id: int, button_id: str) -> str:
    """What a quick-reply button carries: the conversation and the action, nothing to guess."""
    return f"{_PAYLOAD_PREFIX}:{conversation_id}:{button_id}"


def parse_button_payload(payload: str) -> tuple[int, str] | None:
    prefix, _, rest = payload.partition(":")
    conversation, _, button_id = rest.partition(":")
    if prefix != _PAYLOAD_PREFIX or not conversation.isdigit() or not button_id:
        return None
    return int(conversation), button_id
