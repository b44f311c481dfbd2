"""Whether an unknown template send may go to Meta once more (docs/sending.md).

Rules: once only; not when its conversation is gone, answered (Meta had it) or closed; not
when a newer attempt of the shipment was notified, the attempt is stale, WhatsApp is off for
the workspace, the shopper opted out, or the template is deleted or no longer verified.
"""

from __future__ import annotations

from datetime import datetime

from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions, SettingsReader
from domain.conversation import Conversation, ConversationState
from domain.messages import OutgoingMessage

#: What ``why_not_again`` says when the shopper answered the template's buttons.
ANSWERED = "answered"
_STILL_OPEN = (ConversationState.PENDING, ConversationState.OPEN)


async def why_not_again(
    uow: UnitOfWork,
    settings: SettingsReader,
    options: NotificationOptions,
    message: OutgoingMessage,
    conversation: Conversation | None,
    now: datetime,
) -> str | None:
    """Why the send may not go again (None: it may)."""
    if message.resent_at is not None:
        return "no status from Meta after the send was repeated"
    if conversation is None:
        return "not sent again: its conversation is gone"
    if conversation.state.is_answerable and conversation.state is not ConversationState.OPEN:
        return ANSWERED
    if conversation.state not in _STILL_OPEN:
        return f"not sent again: the conversation is {conversation.state.value}"
    newest = await uow.conversations.latest_for_shipment(conversation.shipment_id)
    if newest is not None and newest.status_log_id > conversation.status_log_id:
        return "not sent again: a newer failed attempt of the shipment was notified"
    age = (now - conversation.created_at).total_seconds()
    if age > options.stale_after_seconds:
        return "not sent again: the failed attempt is too old"
    setting = await settings.get(uow, conversation.account_id)
    if not setting.whatsapp_enabled:
        return "not sent again: WhatsApp is off for the workspace now"
    if await uow.opt_outs.is_opted_out(conversation.account_id, message.customer_phone):
        return "not sent again: the shopper opted out"  # docs/opt-out.md
    template = (
        await uow.templates.get(message.template_id) if message.template_id is not None else None
    )
    if template is None:
        return "not sent again: the template was deleted"
    if template.account_id != options.default_account_id and template.verified_at is None:
        return "not sent again: the template is no longer verified"
    return None
