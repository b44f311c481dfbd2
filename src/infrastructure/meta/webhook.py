"""Meta's webhook on the wire: the ``X-Hub-Signature-256`` check and the payload decoder.

The signature is over the exact bytes received (Meta escapes non-ASCII as ``\\uXXXX``;
re-serialised JSON would not match). Each status and message is kept as the raw JSON Meta
sent, for the ``payload`` columns.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime

import msgspec

from domain.cost import Pricing, is_billable
from domain.errors import MalformedPayload
from domain.status import WEBHOOK_STATUSES
from domain.webhook import (
    MAX_CLIENT_REF,
    MAX_MESSAGE_ID,
    MAX_PHONE_DIGITS,
    MAX_REPLY_ID,
    MAX_USER_ID,
    ElementProblem,
    ElementProblemKind,
    InboundMessage,
    ParsedWebhook,
    PreferenceChange,
    StatusUpdate,
    TemplateStatusChange,
)

SIGNATURE_PREFIX = "sha256="


def sign(body: bytes, app_secret: str) -> str:
    """The header value Meta would send for ``body``."""
    return SIGNATURE_PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signature_is_valid(body: bytes, header: str | None, app_secret: str) -> bool:
    if not header or not header.startswith(SIGNATURE_PREFIX) or not app_secret:
        return False
    return hmac.compare_digest(sign(body, app_secret), header.strip())


class MalformedWebhook(MalformedPayload):
    """A signed body that is not a WhatsApp webhook we can read."""


class MetaWebhookFormat:
    """Both webhook ports for Meta's format."""

    def is_valid(self, body: bytes, signature: str | None, secret: str) -> bool:
        return signature_is_valid(body, signature, secret)

    def decode(self, body: bytes) -> ParsedWebhook:
        return parse_webhook(body)


class _Error(msgspec.Struct, kw_only=True):
    code: int | None = None
    title: str | None = None
    message: str | None = None


class _Status(msgspec.Struct, kw_only=True):
    id: str
    status: str
    timestamp: str | int
    recipient_id: str = ""
    recipient_user_id: str | None = None
    biz_opaque_callback_data: str | None = None
    errors: list[_Error] | None = None
    pricing: _Pricing | None = None
    conversation: _Conversation | None = None


class _Pricing(msgspec.Struct, kw_only=True, frozen=True):  # hashable: ``_Seen``
    billable: bool | None = None
    pricing_model: str | None = None
    category: str | None = None
    type: str | None = None


class _Conversation(msgspec.Struct, kw_only=True):
    id: str | None = None


class _Context(msgspec.Struct, kw_only=True):
    id: str | None = None


class _Button(msgspec.Struct, kw_only=True):
    payload: str | None = None
    text: str | None = None


class _Reply(msgspec.Struct, kw_only=True):
    id: str | None = None
    title: str | None = None


class _Interactive(msgspec.Struct, kw_only=True):
    type: str | None = None
    button_reply: _Reply | None = None
    list_reply: _Reply | None = None


class _Text(msgspec.Struct, kw_only=True):
    body: str | None = None


class _System(msgspec.Struct, kw_only=True):
    type: str | None = None
    wa_id: str | None = None
    new_wa_id: str | None = None


class _Message(msgspec.Struct, kw_only=True):
    id: str
    timestamp: str | int
    type: str = "unknown"
    from_: str = msgspec.field(name="from", default="")
    from_user_id: str | None = None
    context: _Context | None = None
    button: _Button | None = None
    interactive: _Interactive | None = None
    text: _Text | None = None
    system: _System | None = None


class _Metadata(msgspec.Struct, kw_only=True):
    phone_number_id: str | None = None


class _Value(msgspec.Struct, kw_only=True):
    metadata: _Metadata | None = None
    statuses: list[msgspec.Raw] | None = None
    messages: list[msgspec.Raw] | None = None
    errors: list[msgspec.Raw] | None = None


class _OtherInfo(msgspec.Struct, kw_only=True):
    title: str | None = None


class _TemplateStatus(msgspec.Struct, kw_only=True):
    event: str = ""
    message_template_id: int | str | None = None
    message_template_name: str = ""
    message_template_language: str = ""
    reason: str | None = None
    other_info: _OtherInfo | None = None


class _Preference(msgspec.Struct, kw_only=True):
    wa_id: str
    category: str = ""
    value: str
    detail: str | None = None
    timestamp: str | int


class _Preferences(msgspec.Struct, kw_only=True):
    metadata: _Metadata | None = None
    user_preferences: list[msgspec.Raw] | None = None


class _Change(msgspec.Struct, kw_only=True):
    field: str = ""
    value: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"{}"))


class _Entry(msgspec.Struct, kw_only=True):
    id: str = ""
    changes: list[_Change] = msgspec.field(default_factory=list)


class _Envelope(msgspec.Struct, kw_only=True):
    object: str = ""
    entry: list[_Entry] = msgspec.field(default_factory=list)


_envelope = msgspec.json.Decoder(_Envelope)
_value = msgspec.json.Decoder(_Value)
_status = msgspec.json.Decoder(_Status)
_message = msgspec.json.Decoder(_Message)
_template_status = msgspec.json.Decoder(_TemplateStatus)

TEMPLATE_STATUS_FIELD = "message_template_status_update"
PREFERENCES_FIELD = "user_preferences"
_preferences = msgspec.json.Decoder(_Preferences)
_preference = msgspec.json.Decoder(_Preference)
#: Meta's values for a preference (docs/opt-out.md); anything else is unreadable.
_PREFERENCE_VALUES = {"stop": True, "resume": False}


_error = msgspec.json.Decoder(_Error)

#: Unix seconds our DATETIME columns can hold (year 1 to 9999); Meta sends seconds since 2009.
_LATEST_TIMESTAMP = 253402300799
_USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_WAMID = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: what a wamid is made of


class _Unfit(ValueError):
    """A field of one element that our columns cannot hold (docs/webhooks.md, "What fits")."""


def parse_webhook(body: bytes) -> ParsedWebhook:
    """Each change, status and message on its own: an element that cannot be read becomes a
    problem of that element, and every other element is still returned."""
    try:
        envelope = _envelope.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise MalformedWebhook(str(exc)[:500]) from exc
    if envelope.object != "whatsapp_business_account":
        raise MalformedWebhook(f"object is {envelope.object[:100]!r}")
    parsed = _Parsed()
    for i, entry in enumerate(envelope.entry):
        for j, change in enumerate(entry.changes):
            parsed.change(f"entry[{i}].changes[{j}]", entry.id, change)
    return ParsedWebhook(
        statuses=tuple(parsed.statuses),
        messages=tuple(parsed.messages),
        phone_number_ids=tuple(dict.fromkeys(parsed.phone_ids)),
        template_changes=tuple(parsed.templates),
        preferences=tuple(parsed.preferences),
        other_fields=tuple(parsed.other),
        problems=tuple(parsed.problems),
    )


class _Seen:
    """What the statuses of a body repeat (Meta's seconds, the pricing of its messages),
    each turned into our value once per body (BENCHMARKS.md, "Stop 16: statuses")."""

    def __init__(self) -> None:
        self._times: dict[str | int, datetime] = {}
        self._pricings: dict[tuple[_Pricing, str | None], Pricing] = {}

    def timestamp(self, value: str | int) -> datetime:
        at = self._times.get(value)
        if at is None:
            at = self._times[value] = _timestamp(value)  # a bad one raises, never kept
        return at

    def pricing(self, status: _Status) -> Pricing | None:
        if status.pricing is None:
            return None
        key = (status.pricing, status.conversation.id if status.conversation else None)
        pricing = self._pricings.get(key)
        if pricing is None:
            pricing = self._pricings[key] = _pricing(*key)
        return pricing


class _Parsed:
    def __init__(self) -> None:
        self.seen = _Seen()
        self.statuses: list[StatusUpdate] = []
        self.messages: list[InboundMessage] = []
        self.phone_ids: list[str] = []
        self.templates: list[TemplateStatusChange] = []
        self.preferences: list[PreferenceChange] = []
        self.other: list[str] = []
        self.problems: list[ElementProblem] = []

    def unreadable(self, element: str, exc: Exception) -> None:
        detail = str(exc) or type(exc).__name__
        self.problems.append(
            ElementProblem(element=element, kind=ElementProblemKind.UNREADABLE, detail=detail[:500])
        )

    def change(self, where: str, entry_id: str, change: _Change) -> None:
        try:
            if change.field == TEMPLATE_STATUS_FIELD:
                template = _template_change(entry_id, change.value)
                if template is not None:
                    self.templates.append(template)
                return
            if change.field == PREFERENCES_FIELD:
                self.preference_changes(where, _preferences.decode(change.value))
                return
            if change.field != "messages":
                self.other.append(change.field[:100])
                return
            value = _value.decode(change.value)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError) as exc:
            self.unreadable(f"{where}.value", exc)
            return
        number = value.metadata.phone_number_id if value.metadata else None
        if number:
            self.phone_ids.append(number)
        for k, raw in enumerate(value.statuses or []):
            element = f"{where}.value.statuses[{k}]"
            try:
                update = _status_update(raw, element, self.seen)
            except _READ_ERRORS as exc:
                self.unreadable(element, exc)
                continue
            if update is not None:
                self.statuses.append(update)
        for k, raw in enumerate(value.messages or []):
            element = f"{where}.value.messages[{k}]"
            try:
                self.messages.append(_inbound(raw, element, number))
            except _READ_ERRORS as exc:
                self.unreadable(element, exc)
        for k, raw in enumerate(value.errors or []):
            self.meta_error(f"{where}.value.errors[{k}]", raw)

    def preference_changes(self, where: str, value: _Preferences) -> None:
        number = value.metadata.phone_number_id if value.metadata else None
        for k, raw in enumerate(value.user_preferences or []):
            element = f"{where}.value.user_preferences[{k}]"
            try:
                self.preferences.append(_preference_change(raw, element, number))
            except _READ_ERRORS as exc:
                self.unreadable(element, exc)

    def meta_error(self, element: str, raw: msgspec.Raw) -> None:
        try:
            error = _error.decode(raw)
        except _READ_ERRORS as exc:
            self.unreadable(element, exc)
            return
        self.problems.append(
            ElementProblem(
                element=element,
                kind=ElementProblemKind.META_ERROR,
                detail=(error.title or error.message or "no title")[:500],
                code=error.code,
            )
        )


_READ_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError)


def _template_change(waba_id: str, raw: msgspec.Raw) -> TemplateStatusChange | None:
    value = _template_status.decode(raw)
    if value.message_template_id is None or not value.event:
        return None  # nothing to match a template on; the body is kept in the inbox
    info = value.other_info.title if value.other_info else None
    reason = value.reason if value.reason and value.reason.upper() != "NONE" else info
    return TemplateStatusChange(
        waba_id=waba_id,
        meta_template_id=str(value.message_template_id),
        name=value.message_template_name,
        language=value.message_template_language,
        event=value.event.upper(),
        reason=reason,
    )


def _preference_change(
    raw: msgspec.Raw, element: str, business_number_id: str | None
) -> PreferenceChange:
    preference = _preference.decode(raw)
    phone, _ = _phone_or_user(preference.wa_id, "wa_id")
    if not phone:
        raise _Unfit("wa_id is not a phone number")
    stopped = _PREFERENCE_VALUES.get(preference.value.casefold())
    if stopped is None:
        raise _Unfit(f"value {preference.value[:20]!r} is neither stop nor resume")
    return PreferenceChange(
        wa_id=phone,
        category=preference.category[:64],
        stopped=stopped,
        detail=(preference.detail or "")[:255],
        timestamp=_timestamp(preference.timestamp),
        business_number_id=business_number_id,
        element=element,
    )


def _timestamp(value: str | int) -> datetime:
    seconds = value if isinstance(value, int) else int(value) if value.isdigit() else -1
    if not 0 <= seconds <= _LATEST_TIMESTAMP:
        raise _Unfit(f"timestamp {str(value)[:40]!r} is not unix seconds")
    return datetime.fromtimestamp(seconds, UTC)


def _wamid(value: str, what: str) -> str:
    if not value or len(value) > MAX_MESSAGE_ID or not _WAMID.fullmatch(value):
        raise _Unfit(f"{what} is not an id of at most {MAX_MESSAGE_ID} ASCII characters")
    return value


def _optional_wamid(value: str | None, what: str) -> str | None:
    return None if value is None else _wamid(value, what)


def _user_id(value: str | None, what: str) -> str | None:
    if not value:
        return None
    if len(value) > MAX_USER_ID or not _USER_ID.fullmatch(value):
        raise _Unfit(f"{what} is not a user id of at most {MAX_USER_ID} characters")
    return value


def _phone_or_user(value: str, what: str) -> tuple[str, str | None]:
    """A wa_id is digits; since Meta's usernames, ``from`` may hold a user id instead."""
    if not value:
        return "", None
    if value.isascii() and value.isdigit():
        if len(value) > MAX_PHONE_DIGITS:
            raise _Unfit(f"{what} has more than {MAX_PHONE_DIGITS} digits")
        return value, None
    if len(value) > MAX_USER_ID or not _USER_ID.fullmatch(value):
        raise _Unfit(f"{what} is neither a phone number (digits) nor a user id")
    return "", value


def _client_ref(value: str | None) -> str | None:
    """Ours are short ASCII; anything else was not set by us (kept in the payload only)."""
    if value is None or len(value) > MAX_CLIENT_REF or not value.isascii():
        return None
    return value


def _status_update(raw: msgspec.Raw, element: str, seen: _Seen) -> StatusUpdate | None:
    status = _status.decode(raw)
    mapped = WEBHOOK_STATUSES.get(status.status)
    if mapped is None:  # e.g. "deleted", "warning": nothing a tick can show
        return None
    phone, user_in_recipient = _phone_or_user(status.recipient_id, "recipient_id")
    error = status.errors[0] if status.errors else None
    return StatusUpdate(
        message_id=_wamid(status.id, "id"),
        status=mapped,
        timestamp=seen.timestamp(status.timestamp),
        recipient_id=phone,
        recipient_user_id=_user_id(status.recipient_user_id, "recipient_user_id")
        or user_in_recipient,
        client_ref=_client_ref(status.biz_opaque_callback_data),
        error_code=error.code if error else None,
        error_title=(error.title or error.message) if error else None,
        payload=bytes(raw).decode("utf-8", errors="replace"),
        element=element,
        pricing=seen.pricing(status),
    )


def _pricing(pricing: _Pricing, conversation: str | None) -> Pricing:
    """Meta's pricing of the message, cut to our columns (docs/cost.md)."""
    return Pricing(
        billable=is_billable(pricing.billable, pricing.type),
        model=(pricing.pricing_model or "")[:16],
        category=(pricing.category or "")[:32],
        type=(pricing.type or "")[:32],
        conversation_id=conversation[:128] if conversation else None,
    )


def _inbound(raw: msgspec.Raw, element: str, business_number_id: str | None) -> InboundMessage:
    message = _message.decode(raw)
    phone, user_in_from = _phone_or_user(message.from_, "from")
    user_id = _user_id(message.from_user_id, "from_user_id") or user_in_from
    if not phone and not user_id:
        raise _Unfit("no sender: neither from nor from_user_id")
    reply = None
    interactive_type = None
    if message.interactive is not None:
        interactive_type = message.interactive.type
        reply = message.interactive.button_reply or message.interactive.list_reply
    reply_id = reply.id if reply else None
    if reply_id is not None and len(reply_id) > MAX_REPLY_ID:
        raise _Unfit(f"reply id is longer than {MAX_REPLY_ID} characters")
    system = message.system
    new_phone = None
    if system is not None and system.type == "user_changed_number":
        new_phone, _ = _phone_or_user(system.new_wa_id or system.wa_id or "", "system.wa_id")
    return InboundMessage(
        message_id=_wamid(message.id, "id"),
        from_phone=phone,
        from_user_id=user_id,
        timestamp=_timestamp(message.timestamp),
        type=message.type[:32],
        interactive_type=interactive_type,
        context_message_id=_optional_wamid(
            message.context.id if message.context else None, "context.id"
        ),
        button_payload=message.button.payload if message.button else None,
        button_text=message.button.text if message.button else None,
        reply_id=reply_id,
        reply_title=reply.title if reply else None,
        text=message.text.body if message.text else None,
        system_type=system.type if system else None,
        new_phone=new_phone or None,
        business_number_id=business_number_id,
        payload=bytes(raw).decode("utf-8", errors="replace"),
        element=element,
    )
