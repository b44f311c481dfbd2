"""Test data: polyfactory builds entities; each test overrides what it asserts on."""

from __future__ import annotations

from datetime import UTC, datetime

from polyfactory import Use
from polyfactory.factories import DataclassFactory

from domain.conversation import Conversation, ConversationState
from domain.messages import CustomerReply, DeliveryReport, MessageKind, OutgoingMessage, ReplyType
from domain.ndr import NdrAction, NdrActionState
from domain.reasons import FdrReason
from domain.status import MessageStatus
from tests.conftest import new_id

T0 = datetime(2026, 11, 20, 10, 30, 15, 123456, tzinfo=UTC)


def _phone() -> str:
    return "91" + str(7_000_000_000 + new_id() % 2_999_999_999)


class ConversationFactory(DataclassFactory[Conversation]):
    id = None
    account_id = Use(new_id)
    shipment_id = Use(new_id)
    status_log_id = Use(new_id)
    reason = FdrReason.CUSTOMER_UNAVAILABLE
    customer_phone = Use(_phone)
    sender_connection_id = 5
    template_id = None
    state = ConversationState.PENDING
    root_message_id = None
    last_customer_message_at = None
    nudged_at = None
    created_at = T0
    updated_at = T0


class OutgoingMessageFactory(DataclassFactory[OutgoingMessage]):
    id = None
    kind = MessageKind.TEMPLATE
    client_ref = Use(lambda: f"ref-{new_id()}")
    conversation_id = Use(new_id)
    status_log_id = Use(new_id)
    sender_connection_id = 5
    customer_phone = Use(_phone)
    business_phone = "106540352242922"
    template_id = None
    root_message_id = None
    message_id = None
    status = MessageStatus.PENDING
    error_code = None
    error_title = None
    external_updated_at = None
    resent_at = None
    created_at = T0
    updated_at = T0


class DeliveryReportFactory(DataclassFactory[DeliveryReport]):
    id = None
    wa_outgoing_message_id = None
    message_id = Use(lambda: f"wamid.{new_id()}")
    status = MessageStatus.DELIVERED
    client_ref = None
    error_code = None
    error_title = None
    external_timestamp = T0
    created_at = T0


class CustomerReplyFactory(DataclassFactory[CustomerReply]):
    id = None
    message_id = Use(lambda: f"wamid.reply.{new_id()}")
    customer_phone = Use(_phone)
    context_message_id = None
    root_id = None
    kind = ReplyType.BUTTON
    button_id = None
    sent_at = T0
    created_at = T0
    decision = None
    handled_at = None


class NdrActionFactory(DataclassFactory[NdrAction]):
    id = None
    conversation_id = Use(new_id)
    account_id = Use(new_id)
    shipment_id = Use(new_id)
    reply_message_id = Use(lambda: f"wamid.reply.{new_id()}")
    delivery_date = None
    phone = None
    address = None
    state = NdrActionState.PENDING
    attempts = 0
    created_at = T0
    updated_at = T0
    automatic = False  # a tapped answer unless a test says otherwise
