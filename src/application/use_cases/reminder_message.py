"""The reminder's message: its template, its values, the row recorded before the send.

Rules: the template is the shipped ``fdr_reminder`` in the shopper's language, else the
workspace's, else English; the workspace's own verified one first, else the one shipped on the
Eshopbox connection. The row's ``client_ref`` is the conversation's (``reminder_ref``): a job
run again after a crash finds it and never records a second one.
"""

from __future__ import annotations

from datetime import datetime

from application.content_codec import content_json
from application.ports.repositories import UnitOfWork
from domain.conversation import Conversation
from domain.language import normalise
from domain.messages import MessageKind, OutgoingMessage, reminder_ref
from domain.settings import ChannelSetting
from domain.status import MessageStatus
from domain.templates import TemplateVariable, WaTemplate

#: The reminder template's name (shipped in English and Hindi, migration 0007).
REMINDER_TEMPLATE = "fdr_reminder"


async def reminder_template(
    uow: UnitOfWork, conversation: Conversation, setting: ChannelSetting, default_account: int
) -> WaTemplate | None:
    """The reminder in the shopper's language, else the workspace's, else English: the
    workspace's own verified one first, else (from the Eshopbox connection) the shipped."""
    language = await uow.conversations.shopper_language(conversation.customer_phone)
    wanted = [language or setting.language, setting.language, "en"]
    for owner in setting.template_owners(default_account):
        found = [
            t
            for t in await uow.templates.for_account(owner)
            if t.template_name == REMINDER_TEMPLATE and (owner == default_account or t.is_verified)
        ]
        for code in wanted:
            for template in found:
                if normalise(template.language) == code:
                    return template
    return None


def reminder_message(
    conversation: Conversation, template: WaTemplate, link: str, now: datetime
) -> OutgoingMessage:
    """The reminder's row, ``queued``: recorded before it is sent."""
    assert conversation.id is not None
    content = template.render(_values(conversation, link), ())
    return OutgoingMessage(
        conversation_id=conversation.id,
        kind=MessageKind.TEMPLATE,
        client_ref=reminder_ref(conversation.id),
        status_log_id=conversation.status_log_id,
        sender_connection_id=conversation.sender_connection_id,
        customer_phone=conversation.customer_phone,
        business_phone="",
        template_id=template.id,
        root_message_id=conversation.root_message_id,
        payload=content_json(content),
        status=MessageStatus.QUEUED,
        created_at=now,
        updated_at=now,
    )


def _values(conversation: Conversation, link: str) -> dict[TemplateVariable, str]:
    name = conversation.customer_name.strip()
    return {
        TemplateVariable.FIRST_NAME: name.split()[0] if name else "there",
        TemplateVariable.BRAND: conversation.brand or "your",
        TemplateVariable.ORDER_NUMBER: conversation.order_number
        or conversation.external_shipment_id
        or "-",
        TemplateVariable.TRACKING_LINK: link,
    }
