"""Which conversation a shopper's message may drive, and what a message that is not an answer
gets (docs/webhooks.md, "Binding" and "Messages that are not answers")."""

from __future__ import annotations

from domain.conversation import Conversation, ConversationState
from domain.flows import Decision
from domain.language import ENGLISH_TEXTS, Texts
from domain.messages import TextMessage
from domain.webhook import InboundMessage

_WHAT = {
    "image": "photos",
    "video": "videos",
    "audio": "voice notes",
    "voice": "voice notes",
    "document": "documents",
    "sticker": "stickers",
    "location": "shared locations",
    "contacts": "contact cards",
    "order": "orders",
}
UNUSABLE_TEXT = (
    "Sorry, we cannot read {what} in this chat. Please tap one of the buttons in our message "
    "about your order."
)
UNUSABLE_PHONE_TEXT = (
    "Sorry, we cannot read {what} in this chat. Please type the other mobile number as a "
    "message, for example 9876543210."
)


def why_not_bound(
    conversation: Conversation,
    message: InboundMessage,
    *,
    connection_id: int,
    conversation_number_id: str,
    via_context: bool,
) -> str | None:
    """Why ``message`` may not drive ``conversation``, or None when it may: it must come
    through the connection the conversation was sent from (that app's secret signed it), to
    the business number that sent it, from the shopper it was sent to."""
    if connection_id != conversation.sender_connection_id:
        return "signed by another connection than the conversation's"
    if message.business_number_id != conversation_number_id:
        return "written to another business number than the conversation's"
    if message.from_phone and message.from_phone == conversation.customer_phone:
        return None
    if message.from_user_id and conversation.customer_user_id:
        if message.from_user_id == conversation.customer_user_id:
            return None
        return "from another shopper than the conversation's"
    if message.from_user_id and not message.from_phone and via_context:
        # A username-only shopper answering our own message (its wamid is known only to the
        # shopper it was sent to and to us): the first such answer names the shopper's id.
        return None
    return "from another shopper than the conversation's"


def unusable_answer(
    conversation: Conversation, message: InboundMessage, texts: Texts = ENGLISH_TEXTS
) -> Decision:
    """Media, locations, contact cards and orders: said once what the conversation can use."""
    if not conversation.state.is_answerable or conversation.state is ConversationState.RESOLVED:
        return Decision(why=f"{message.type} (nothing is asked)")
    if conversation.nudged_at is not None:
        return Decision(why=f"{message.type} (already nudged)")
    what = texts(_WHAT.get(message.type, "this kind of message"))
    text = (
        UNUSABLE_PHONE_TEXT
        if conversation.state is ConversationState.AWAITING_PHONE
        else UNUSABLE_TEXT
    )
    body = texts(text).format(what=what)
    return Decision(message=TextMessage(body=body), nudge=True, why=message.type)
