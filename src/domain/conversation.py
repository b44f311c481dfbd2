"""One conversation per shipment per failed attempt, rooted at the first template message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.reasons import FdrReason
from domain.status import MessageStatus

#: Meta's customer-service window: free-form messages only this long after the shopper's last one.
SERVICE_WINDOW = timedelta(hours=24)


class ConversationState(StrEnum):
    PENDING = "pending"  # recorded, template not yet accepted by Meta
    OPEN = "open"  # template sent, waiting for the shopper
    AWAITING_DATE = "awaiting_date"  # date buttons sent
    AWAITING_PHONE = "awaiting_phone"  # asked for an alternate number
    RESOLVED = "resolved"  # the shopper's answer was acted on
    # The ESB refused what the shopper asked for: someone of the workspace must get in touch.
    # The shopper may still choose another option; one that is acted on resolves it.
    NEEDS_PERSON = "needs_person"
    FAILED = "failed"  # the template could not be sent
    EXPIRED = "expired"  # a newer failed attempt for the shipment exists

    @property
    def is_answerable(self) -> bool:
        return self in _ANSWERABLE


_ANSWERABLE = {
    ConversationState.OPEN,
    ConversationState.AWAITING_DATE,
    ConversationState.AWAITING_PHONE,
    ConversationState.RESOLVED,
    ConversationState.NEEDS_PERSON,
}


def template_move(
    status: MessageStatus,
) -> tuple[ConversationState, frozenset[ConversationState]] | None:
    """Where its template's status takes a conversation, and from which states
    (docs/sending.md): a failed template fails a conversation that is pending or open; once
    Meta has (or may have) the template, a pending one opens. None: the status moves nothing."""
    if status is MessageStatus.FAILED:
        return ConversationState.FAILED, _FAILABLE
    if status.rank > 0 or status is MessageStatus.UNKNOWN:
        return ConversationState.OPEN, _OPENABLE
    return None


_FAILABLE = frozenset({ConversationState.PENDING, ConversationState.OPEN})
_OPENABLE = frozenset({ConversationState.PENDING})


@dataclass(slots=True, kw_only=True)
class Conversation:
    id: int | None = None
    account_id: int
    shipment_id: int
    external_shipment_id: str = ""
    status_log_id: int
    order_number: str = ""
    tracking_id: str = ""
    courier: str = ""  # as the failed-delivery event named it (for the outcome stats)
    tracking_domain: str | None = None  # the brand's tracking page host (docs/outcomes.md)
    reason: FdrReason
    customer_phone: str  # E.164 digits
    customer_name: str = ""
    brand: str = ""
    sender_connection_id: int
    template_id: int | None = None
    state: ConversationState = ConversationState.PENDING
    root_message_id: str | None = None  # wamid of the template message
    last_customer_message_at: datetime | None = None
    nudged_at: datetime | None = None
    customer_user_id: str | None = None  # business-scoped user id, once Meta names it
    reply_ref: str | None = None  # random: a button payload names the conversation with it
    created_at: datetime
    updated_at: datetime

    def in_service_window(self, now: datetime) -> bool:
        last = self.last_customer_message_at
        return last is not None and now - last < SERVICE_WINDOW

    def follows_template(self, status: MessageStatus) -> bool:
        """Whether its template's ``status`` still changes this conversation as it was read
        (``template_move``); the write itself is a compare-and-set at the database."""
        move = template_move(status)
        return move is not None and self.state in move[1] and self.state is not move[0]

    def template_failed(self) -> None:
        """The template could not be sent (or not even rendered): nothing more will happen."""
        assert self.follows_template(MessageStatus.FAILED)
        self.state = ConversationState.FAILED

    def answered(self, decided: ConversationState | None, *, refused: bool) -> bool:
        """Moves to where an answer leads (docs/conversation.md); False when nothing changed.

        A refusal always needs a person; a resolved conversation stays resolved; one that
        needs a person leaves that state only when another option is acted on.
        """
        if self.state is ConversationState.RESOLVED:
            return False
        if refused:
            target = ConversationState.NEEDS_PERSON
        elif decided is None or (
            self.state is ConversationState.NEEDS_PERSON
            and decided is not ConversationState.RESOLVED
        ):
            return False
        else:
            target = decided
        if target is self.state:
            return False
        self.state = target
        return True
