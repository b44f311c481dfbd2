"""The rows a failed delivery's notification records before its send: the conversation (one
per attempt, ``uq_conversation_attempt``) and the template's message, ``queued`` with a
``client_ref`` of its own (``uq_outgoing_client_ref``), so a redelivered event finds both."""

from __future__ import annotations

from datetime import datetime

from application.content_codec import content_json
from domain.conversation import Conversation, ConversationState
from domain.failed_delivery import FailedDelivery
from domain.messages import MessageKind, OutgoingMessage, TemplateMessage
from domain.planning import Plan
from domain.settings import SenderConnection
from domain.status import MessageStatus


def new_conversation(
    fdr: FailedDelivery, plan: Plan, sender: SenderConnection, reply_ref: str, now: datetime
) -> Conversation:
    """The attempt's conversation, ``pending`` until Meta has its template (not stored yet)."""
    return Conversation(
        account_id=fdr.account_id,
        shipment_id=fdr.shipment_id,
        external_shipment_id=fdr.external_shipment_id,
        status_log_id=fdr.status_log_id,
        order_number=fdr.order_number,
        tracking_id=fdr.tracking_id,
        courier=fdr.courier[:128],
        tracking_domain=fdr.tracking_domain,
        reason=plan.reason,
        customer_phone=plan.phone.digits,
        customer_name=fdr.customer_name,
        brand=fdr.brand or fdr.account_slug,
        sender_connection_id=sender.connection_id,
        template_id=plan.template.id,
        state=ConversationState.PENDING,
        reply_ref=reply_ref[:32],
        created_at=now,
        updated_at=now,
    )


def new_template_message(
    conversation: Conversation,
    plan: Plan,
    sender: SenderConnection,
    content: TemplateMessage,
    client_ref: str,
    now: datetime,
) -> OutgoingMessage:
    """The conversation's template, ``queued``: recorded before it is sent."""
    assert conversation.id is not None
    return OutgoingMessage(
        conversation_id=conversation.id,
        kind=MessageKind.TEMPLATE,
        client_ref=client_ref,
        status_log_id=conversation.status_log_id,
        sender_connection_id=sender.connection_id,
        customer_phone=plan.phone.digits,
        business_phone=sender.display_phone_number or sender.phone_number_id,
        template_id=plan.template.id,
        payload=content_json(content),
        status=MessageStatus.QUEUED,
        created_at=now,
        updated_at=now,
    )
