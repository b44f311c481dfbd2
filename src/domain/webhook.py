"""What Meta's webhook tells us, once decoded: status ticks and the shopper's messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.status import MessageStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusUpdate:
    message_id: str  # wamid of our outgoing message
    status: MessageStatus
    timestamp: datetime
    recipient_id: str = field(default="", repr=False)
    client_ref: str | None = None  # biz_opaque_callback_data: our outgoing message reference
    error_code: int | None = None
    error_title: str | None = None
    payload: str = ""  # this status, as Meta sent it


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    message_id: str  # wamid of the shopper's message
    from_phone: str = field(repr=False)  # wa_id
    timestamp: datetime
    type: str  # button, interactive, text, image, ...
    context_message_id: str | None = None  # the message of ours it answers
    button_payload: str | None = None  # a quick reply on a template
    button_text: str | None = None
    reply_id: str | None = None  # an interactive button or list row
    reply_title: str | None = None
    text: str | None = None
    payload: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateStatusChange:
    """Meta's ``message_template_status_update``: a template was approved, paused, rejected..."""

    waba_id: str  # entry[].id: the business account the template belongs to
    meta_template_id: str
    name: str
    language: str
    event: str  # APPROVED, PAUSED, DISABLED, REJECTED, ... (upper case)
    reason: str | None = None  # Meta's reason, or the pause's title (FIRST_PAUSE, ...)

    @property
    def stops_sending(self) -> bool:
        """Meta refuses sends of the template after this event (132001, 132015, 132016)."""
        return self.event not in SENDABLE_TEMPLATE_EVENTS


#: Events after which an approved template can still be sent. ``FLAGGED`` is a warning
#: (quality is low; a pause may follow); anything else (PAUSED, DISABLED, REJECTED, PENDING,
#: PENDING_DELETION, DELETED, ARCHIVED, ...) means Meta will not deliver it now.
SENDABLE_TEMPLATE_EVENTS = frozenset({"APPROVED", "REINSTATED", "FLAGGED"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedWebhook:
    statuses: tuple[StatusUpdate, ...] = ()
    messages: tuple[InboundMessage, ...] = ()
    phone_number_ids: tuple[str, ...] = ()
    template_changes: tuple[TemplateStatusChange, ...] = ()
    other_fields: tuple[str, ...] = ()  # quality updates, account updates and the like: logged
