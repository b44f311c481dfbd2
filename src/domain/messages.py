"""Messages in both directions: what we send, the ticks Meta reports, what the shopper answers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.cost import Pricing
from domain.errors import PermanentSendError, SendError, SendOutcomeUnknown
from domain.status import RANK, MessageStatus

#: The reminder's ``client_ref`` is this and the conversation id (docs/scheduler.md).
REMINDER_REF_PREFIX = "reminder:"


def reminder_ref(conversation_id: int) -> str:
    """The reminder's ``client_ref``: one per conversation (``uq_outgoing_client_ref``)."""
    return f"{REMINDER_REF_PREFIX}{conversation_id}"


class MessageKind(StrEnum):
    TEMPLATE = "template"
    INTERACTIVE = "interactive"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class QuickReply:
    """A reply button: ``id`` comes back when tapped, ``title`` is what the shopper sees."""

    id: str
    title: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateMessage:
    """A template send: name and language as approved by Meta, values in the template's order."""

    name: str
    language: str
    body_parameters: tuple[str, ...] = ()
    button_payloads: tuple[str, ...] = ()  # one per quick-reply button, in button order


@dataclass(frozen=True, slots=True, kw_only=True)
class InteractiveMessage:
    body: str
    buttons: tuple[QuickReply, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TextMessage:
    body: str
    preview_url: bool = False


Content = TemplateMessage | InteractiveMessage | TextMessage


@dataclass(slots=True, kw_only=True)
class OutgoingMessage:
    """A row of ``wa_outgoing_messages``; ``root_message_id`` is None only on the template."""

    id: int | None = None
    conversation_id: int
    kind: MessageKind
    client_ref: str  # our id, sent as biz_opaque_callback_data and echoed in every status
    status_log_id: int  # the attempt (``shipment_status_log_id``)
    sender_connection_id: int
    customer_phone: str
    business_phone: str
    template_id: int | None = None  # ``wa_template_id``: None on a follow-up
    root_message_id: str | None = None
    message_id: str | None = None  # Meta's wamid, once accepted
    payload: str = ""  # the request body we sent
    status: MessageStatus = MessageStatus.PENDING
    error_code: int | None = None
    error_title: str | None = None
    external_updated_at: datetime | None = None
    resent_at: datetime | None = None  # an unknown send was sent again then (only once)
    created_at: datetime
    updated_at: datetime

    @property
    def is_reminder(self) -> bool:
        """The one reminder of a silent shopper's conversation (a template, but not the
        conversation's own: its status never moves the conversation)."""
        return self.client_ref.startswith(REMINDER_REF_PREFIX)

    @property
    def in_flight(self) -> bool:
        """The request has left for Meta and its answer is not recorded yet."""
        return self.status is MessageStatus.PENDING

    def leaves(self, now: datetime) -> None:
        """The request leaves for Meta: in flight until Meta's answer is recorded."""
        self.status = MessageStatus.PENDING
        self.updated_at = now

    def answered(self, error: SendError | None, message_id: str | None, now: datetime) -> None:
        """Meta's answer to the send (docs/sending.md): ``accepted`` with the wamid, ``failed``
        for good, ``unknown`` (it may have it: never sent again at once) or ``retrying``
        (certainly not sent: safe to send again)."""
        if error is None:
            self.message_id = message_id
            self.status = MessageStatus.ACCEPTED
        elif isinstance(error, PermanentSendError):
            self.status = MessageStatus.FAILED
        elif isinstance(error, SendOutcomeUnknown):
            self.status = MessageStatus.UNKNOWN
        else:
            self.status = MessageStatus.RETRYING
        self.error_code = error.code if error else None
        self.error_title = error.title[:255] if error else None
        self.updated_at = now

    def fail(self, why: str, now: datetime) -> None:
        """Given up on our side (no sender, template deleted, no status after a resend)."""
        self.answered(PermanentSendError(None, why), None, now)

    def stopped_mid_send(self, now: datetime) -> None:
        """A worker died with the request in flight: Meta may have it, so it is ``unknown``."""
        self.status = MessageStatus.UNKNOWN
        self.updated_at = now

    def reached_meta(self, now: datetime) -> None:
        """The shopper answered its buttons: Meta had it, only its statuses are lost."""
        self.status = MessageStatus.ACCEPTED
        self.updated_at = now

    def resend(self, now: datetime) -> None:
        """An unknown send is taken to go to Meta once more, and only once."""
        self.status = MessageStatus.QUEUED
        self.resent_at = now
        self.updated_at = now

    def resend_refused_for_now(self) -> None:
        """Meta refused the resend for now (``retrying``): unknown again, its resend still due."""
        if self.status is MessageStatus.RETRYING:
            self.status, self.resent_at = MessageStatus.UNKNOWN, None

    def apply(self, report: DeliveryReport, now: datetime) -> bool:
        """Moves the status forward by ``report`` (a failure keeps Meta's code and title);
        False when the report is late or repeated and the status stays."""
        advanced = self.status.advance(report.status)
        if advanced is self.status:
            return False
        if advanced is MessageStatus.FAILED:
            self.error_code = report.error_code
            self.error_title = (report.error_title or "")[:255] or None
        self.status = advanced
        self.external_updated_at = report.external_timestamp
        self.updated_at = now
        return True


# Not frozen: a status pass makes one for each status, and a frozen dataclass's ``__init__``
# costs about three times a plain one's (BENCHMARKS.md, "Stop 16: statuses"). Never changed
# once made.
@dataclass(slots=True, kw_only=True)
class DeliveryReport:
    """A row of ``wa_dlr_messages``: one status event of one outgoing message, kept whole."""

    id: int | None = None
    wa_outgoing_message_id: int | None  # None while the outgoing message is not yet known
    message_id: str
    status: MessageStatus
    client_ref: str | None = None
    error_code: int | None = None
    error_title: str | None = None
    payload: str = ""
    external_timestamp: datetime
    created_at: datetime
    pricing: Pricing | None = None  # docs/cost.md


def in_meta_order(reports: Iterable[DeliveryReport]) -> list[DeliveryReport]:
    """The order their statuses are applied in: Meta's seconds, equal seconds broken by
    rank (read after delivered after sent)."""
    return sorted(reports, key=lambda r: (r.external_timestamp, RANK[r.status]))


class ReplyType(StrEnum):
    BUTTON = "button"  # a quick-reply button on a template
    INTERACTIVE = "interactive"  # a reply button or list row on an interactive message
    TEXT = "text"
    OTHER = "other"  # media, reactions, unsupported: recorded, not acted on


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerReply:
    """A shopper's message, a row of ``wa_customer_reply_messages`` (the repository maps the
    fields to the seed's column names, given after each one)."""

    id: int | None = None
    message_id: str  # the shopper's wamid (``reply_message_id``)
    customer_phone: str  # empty for a username-only shopper
    customer_user_id: str | None = None
    context_message_id: str | None = None  # wamid of ours answered (``wa_context_...``)
    root_id: int | None = None  # the conversation's template, its row id (``wa_root_...``)
    kind: ReplyType  # ``customer_reply_type``
    value: str = ""  # what the shopper tapped or wrote (``customer_reply_value``)
    button_id: str | None = None  # the button's id or payload (``button_reply_id``)
    payload: str = ""
    sent_at: datetime  # when the shopper sent it, Meta's time (``external_updated_at``)
    created_at: datetime
    decision: str | None = None  # what we decided to do about it, kept so a retry does the same
    handled_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendReceipt:
    """What Meta answered to an accepted send."""

    message_id: str
    wa_id: str | None = None
    message_status: str | None = None
