"""What Meta's webhook tells us, once decoded: status ticks, the shopper's messages, and the
elements that could not be read (docs/webhooks.md)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.cost import Pricing
from domain.status import MessageStatus

#: What our columns hold of Meta's data (docs/webhooks.md, "What fits"). Wamids are ASCII.
MAX_MESSAGE_ID = 255
#: E.164 allows 15 digits; wa_ids are digits only.
MAX_PHONE_DIGITS = 20
#: Business-scoped user ids (``US.13491208655302741918``, ``US.ENT.1181...``).
MAX_USER_ID = 64
#: Meta's documented limit for an interactive button or list row id.
MAX_REPLY_ID = 256
#: Our own references (``biz_opaque_callback_data``, follow-up keys) are at most this long.
MAX_CLIENT_REF = 128


def follow_up_ref(message_id: str) -> str:
    """The key of what we send in answer to the shopper's message ``message_id``: derived from
    it, so a retry finds the first try, and short enough for any wamid Meta may send."""
    ref = f"reply:{message_id}"
    if len(ref) <= MAX_CLIENT_REF:
        return ref
    return "reply-sha256:" + hashlib.sha256(message_id.encode()).hexdigest()


class ElementProblemKind(StrEnum):
    UNREADABLE = "unreadable"  # the element does not decode or a field does not fit
    META_ERROR = "meta_error"  # a value-level ``errors`` array: Meta reports a problem
    NOT_STORED = "not_stored"  # decoded, but storing or deciding it failed for good


@dataclass(frozen=True, slots=True, kw_only=True)
class ElementProblem:
    """One element of a body that was not applied, and why; the rest of the body still is."""

    element: str  # where in the body: ``entry[0].changes[1].value.statuses[3]``
    kind: ElementProblemKind
    detail: str
    code: int | None = None  # Meta's error code, for META_ERROR


# Not frozen: a status pass makes one for each status, and a frozen dataclass's ``__init__``
# costs about three times a plain one's (BENCHMARKS.md, "Stop 16: statuses"). Never changed
# once made.
@dataclass(slots=True, kw_only=True)
class StatusUpdate:
    message_id: str  # wamid of our outgoing message
    status: MessageStatus
    timestamp: datetime
    recipient_id: str = field(default="", repr=False)
    recipient_user_id: str | None = field(default=None, repr=False)
    client_ref: str | None = None  # biz_opaque_callback_data: our outgoing message reference
    error_code: int | None = None
    error_title: str | None = None
    payload: str = ""  # this status, as Meta sent it
    element: str = ""
    pricing: Pricing | None = None


class InboundKind(StrEnum):
    """What a shopper's message can do in the conversation (docs/webhooks.md)."""

    ANSWER = "answer"  # a tap or typed text: decided by the conversation rules
    UNUSABLE = "unusable"  # media, location, contacts, orders: told what the conversation needs
    SILENT = "silent"  # reactions, edits, deletions, notices: recorded, never answered
    NUMBER_CHANGED = "number_changed"  # the shopper moved to a new number


_ANSWER_TYPES = frozenset({"button", "interactive", "text"})
_UNUSABLE_TYPES = frozenset(
    {"image", "video", "audio", "document", "sticker", "location", "contacts", "order", "voice"}
)
#: Interactive replies that are not an answer to our buttons (call permission, flows).
_ANSWER_INTERACTIVE = frozenset({"button_reply", "list_reply", None})


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    message_id: str  # wamid of the shopper's message
    from_phone: str = field(repr=False)  # wa_id; empty for a username-only shopper
    from_user_id: str | None = field(default=None, repr=False)  # business-scoped user id
    timestamp: datetime
    type: str  # button, interactive, text, image, ...
    interactive_type: str | None = None  # button_reply, list_reply, call_permission_reply...
    context_message_id: str | None = None  # the message of ours it answers
    button_payload: str | None = None  # a quick reply on a template
    button_text: str | None = None
    reply_id: str | None = None  # an interactive button or list row
    reply_title: str | None = None
    text: str | None = None
    system_type: str | None = None  # user_changed_number, customer_identity_changed, ...
    new_phone: str | None = field(default=None, repr=False)  # user_changed_number: the new wa_id
    business_number_id: str | None = None  # metadata.phone_number_id: the number written to
    connection_id: int | None = None  # the connection whose app secret signed the body
    payload: str = ""
    element: str = ""

    @property
    def kind(self) -> InboundKind:
        if self.type == "system":
            if self.system_type == "user_changed_number" and self.new_phone:
                return InboundKind.NUMBER_CHANGED
            return InboundKind.SILENT
        if self.type in _UNUSABLE_TYPES:
            return InboundKind.UNUSABLE
        if self.type == "interactive" and self.interactive_type not in _ANSWER_INTERACTIVE:
            return InboundKind.SILENT
        if self.type in _ANSWER_TYPES:
            return InboundKind.ANSWER
        return InboundKind.SILENT  # reaction, revoke, edit, unsupported, ephemeral, ...

    @property
    def shopper(self) -> str:
        """Who wrote, for ordering one shopper's messages: the number, else the user id."""
        return self.from_phone or f"user:{self.from_user_id or ''}"


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
class PreferenceChange:
    """Meta's ``user_preferences``: a shopper stopped or resumed marketing messages."""

    wa_id: str = field(repr=False)  # the shopper's number (digits)
    category: str  # ``marketing_messages``
    stopped: bool  # ``stop``; False for ``resume``
    detail: str = ""
    timestamp: datetime
    business_number_id: str | None = None
    element: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedWebhook:
    statuses: tuple[StatusUpdate, ...] = ()
    messages: tuple[InboundMessage, ...] = ()
    phone_number_ids: tuple[str, ...] = ()
    template_changes: tuple[TemplateStatusChange, ...] = ()
    preferences: tuple[PreferenceChange, ...] = ()
    other_fields: tuple[str, ...] = ()  # quality updates, account updates and the like: logged
    problems: tuple[ElementProblem, ...] = ()  # elements not applied (unreadable, Meta errors)
