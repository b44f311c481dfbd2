"""How a conversation is shown: its summary and its thread, shoppers' numbers masked."""

from __future__ import annotations

from datetime import date, datetime
from typing import Final, Literal

import msgspec

from application.ports.portal import ConversationListing
from application.use_cases.portal.get_conversation_thread import (
    ThreadEntry,
    ThreadView,
    happened_at,
)
from domain.conversation import Conversation, ConversationState
from domain.messages import (
    CustomerReply,
    DeliveryReport,
    MessageKind,
    OutgoingMessage,
    ReplyType,
)
from domain.ndr import NdrAction, NdrActionKind, NdrActionState
from domain.outcomes import ShipmentEventKind, Verdict
from domain.phone import mask, mask_numbers_in
from domain.reasons import FdrReason
from domain.status import MessageStatus

SUMMARY_EXAMPLE = {
    "id": 1001,
    "shipmentId": 17148471,
    "externalShipmentId": "4980116095129-90758",
    "orderNumber": "4980116095129",
    "trackingId": "1704612602165",
    "reason": "otp_cancellation",
    "status": "resolved",
    "customerName": "Aman Verma",
    "customerPhone": "********1009",
    "brand": "Scitron Shopify",
    "senderConnectionId": 0,
    "templateId": 8,
    "templateStatus": "read",
    "errorCode": None,
    "errorTitle": None,
    "createdAt": "2026-11-20T10:30:15Z",
    "updatedAt": "2026-11-20T10:41:02Z",
    "outcome": "delivered",
    "outcomeAt": "2026-11-21T13:05:00Z",
    "courierNextEvent": "delivered",
    "honoured": True,
}
THREAD_EXAMPLE = [
    {
        "type": "message",
        "at": "2026-11-20T10:30:15Z",
        "id": 5001,
        "kind": "template",
        "status": "read",
        "messageId": "wamid.HBgM...",
        "templateId": 8,
        "errorCode": None,
        "errorTitle": None,
        "reminder": False,
    },
    {
        "type": "status",
        "at": "2026-11-20T10:30:17Z",
        "messageId": "wamid.HBgM...",
        "status": "delivered",
        "errorCode": None,
        "errorTitle": None,
    },
    {
        "type": "answer",
        "at": "2026-11-20T10:40:55Z",
        "messageId": "wamid.HBgN...",
        "answerType": "button",
        "value": "I didn't cancel",
        "buttonId": "not_cancelled",
        "inReplyTo": "wamid.HBgM...",
    },
    {
        "type": "action",
        "at": "2026-11-20T10:40:56Z",
        "action": "reattempt",
        "state": "done",
        "result": "ESB-NDR-881",
        "attempts": 1,
        "deliveryDate": None,
        "phone": None,
        "address": None,
        "disputedFakeAttempt": True,
        "automatic": False,
    },
    {"type": "click", "at": "2026-11-20T10:42:10Z", "source": "whatsapp"},
]


PENDING: Final = "pending"
ShownOutcome = Literal["delivered", "failed_again", "rto", "cancelled", "pending"]


class ConversationSummary(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    id: int
    shipment_id: int
    external_shipment_id: str
    order_number: str
    tracking_id: str
    reason: FdrReason
    status: ConversationState
    customer_name: str
    customer_phone: str  # masked: all but the last four digits hidden
    brand: str
    sender_connection_id: int  # 0: the Eshopbox default
    template_id: int | None
    template_status: MessageStatus | None  # where the template message got to
    error_code: int | None
    error_title: str | None
    created_at: datetime
    updated_at: datetime
    # What became of the shipment after this attempt (docs/outcomes.md): `pending` until a
    # shipment event follows it; `failed_again` when the next attempt failed too.
    outcome: ShownOutcome = PENDING
    outcome_at: datetime | None = None  # when the event that decided it happened
    courier_next_event: ShipmentEventKind | None = None  # the courier's first event after it
    # Whether the courier did what the shopper chose; null: nothing to judge (no answer, an
    # action the ESB did not take, or nothing after the answer yet).
    honoured: bool | None = None


class ConversationPage(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    items: list[ConversationSummary]
    next_cursor: str | None  # pass as `cursor` for the next page; null on the last one


class ThreadMessage(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", tag="message", tag_field="type"
):
    """A message we sent: the template first, then the follow-ups."""

    at: datetime
    id: int
    kind: MessageKind
    status: MessageStatus
    message_id: str | None
    template_id: int | None
    error_code: int | None
    error_title: str | None
    reminder: bool = False  # the one reminder to a silent shopper (docs/scheduler.md)


class ThreadStatus(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", tag="status", tag_field="type"
):
    """A status tick Meta reported for one of our messages, at Meta's time."""

    at: datetime
    message_id: str
    status: MessageStatus
    error_code: int | None
    error_title: str | None


class ThreadAnswer(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", tag="answer", tag_field="type"
):
    """What the shopper sent: a button tap or text (numbers in it masked)."""

    at: datetime
    message_id: str
    answer_type: ReplyType
    value: str
    button_id: str | None
    in_reply_to: str | None


class ThreadAction(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", tag="action", tag_field="type"
):
    """An NDR action asked of logistics on the shopper's behalf, and how it went."""

    at: datetime
    action: NdrActionKind
    state: NdrActionState
    result: str
    attempts: int
    delivery_date: date | None
    phone: str | None  # masked
    # The new address of `update_address` as the shopper typed it (phone-like numbers in it
    # masked); null for other actions and for one recorded before addresses were kept.
    address: str | None = None
    disputed_fake_attempt: bool
    automatic: bool = False  # the workspace's default action, the shopper stayed silent


class ThreadClick(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", tag="click", tag_field="type"
):
    """The shopper opened the tracking link."""

    at: datetime
    source: str


ThreadItem = ThreadMessage | ThreadStatus | ThreadAnswer | ThreadAction | ThreadClick


class ConversationDetail(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    conversation: ConversationSummary
    thread: list[ThreadItem]  # in time order


def summary(
    c: Conversation,
    status: MessageStatus | None = None,
    error_code: int | None = None,
    error_title: str | None = None,
    verdict: Verdict | None = None,
) -> ConversationSummary:
    assert c.id is not None
    outcome = verdict.outcome if verdict else None
    return ConversationSummary(
        id=c.id,
        shipment_id=c.shipment_id,
        external_shipment_id=c.external_shipment_id,
        order_number=c.order_number,
        tracking_id=c.tracking_id,
        reason=c.reason,
        status=c.state,
        customer_name=c.customer_name,
        customer_phone=mask(c.customer_phone),
        brand=c.brand,
        sender_connection_id=c.sender_connection_id,
        template_id=c.template_id,
        template_status=status,
        error_code=error_code,
        error_title=None if error_title is None else mask_numbers_in(error_title),
        created_at=c.created_at,
        updated_at=c.updated_at,
        outcome=outcome.value if outcome else PENDING,
        outcome_at=verdict.outcome_at if verdict else None,
        courier_next_event=verdict.next_event if verdict else None,
        honoured=verdict.honoured if verdict else None,
    )


def listed(item: ConversationListing) -> ConversationSummary:
    return summary(
        item.conversation, item.template_status, item.error_code, item.error_title, item.verdict
    )


def thread_item(entry: ThreadEntry) -> ThreadItem:
    at = happened_at(entry)
    if isinstance(entry, OutgoingMessage):
        assert entry.id is not None
        return ThreadMessage(
            at=at,
            id=entry.id,
            kind=entry.kind,
            status=entry.status,
            message_id=entry.message_id,
            template_id=entry.template_id,
            error_code=entry.error_code,
            error_title=_masked(entry.error_title),
            reminder=entry.is_reminder,
        )
    if isinstance(entry, DeliveryReport):
        return ThreadStatus(
            at=at,
            message_id=entry.message_id,
            status=entry.status,
            error_code=entry.error_code,
            error_title=_masked(entry.error_title),
        )
    if isinstance(entry, CustomerReply):
        return ThreadAnswer(
            at=at,
            message_id=entry.message_id,
            answer_type=entry.kind,
            value=mask_numbers_in(entry.value),
            button_id=entry.button_id,
            in_reply_to=entry.context_message_id,
        )
    if isinstance(entry, NdrAction):
        return ThreadAction(
            at=at,
            action=entry.kind,
            state=entry.state,
            result=mask_numbers_in(entry.result),
            attempts=entry.attempts,
            delivery_date=entry.delivery_date,
            phone=mask(entry.phone) if entry.phone else None,
            address=_masked(entry.address),
            disputed_fake_attempt=entry.disputed_fake_attempt,
            automatic=entry.automatic,
        )
    return ThreadClick(at=at, source=entry.source)


def _masked(text: str | None) -> str | None:
    return None if text is None else mask_numbers_in(text)


def detail(view: ThreadView) -> ConversationDetail:
    template = next(
        (
            e
            for e in view.entries
            if isinstance(e, OutgoingMessage)
            and e.kind is MessageKind.TEMPLATE
            and not e.is_reminder
        ),
        None,
    )
    return ConversationDetail(
        conversation=summary(
            view.conversation,
            None if template is None else template.status,
            None if template is None else template.error_code,
            None if template is None else template.error_title,
            view.verdict,
        ),
        thread=[thread_item(e) for e in view.entries],
    )
