"""Meta's webhook on the wire: the ``X-Hub-Signature-256`` check and the payload decoder.

The signature is over the exact bytes received (Meta escapes non-ASCII as ``\\uXXXX``;
re-serialised JSON would not match). Each status and message is kept as the raw JSON Meta
sent, for the ``payload`` columns.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import msgspec

from domain.errors import MalformedPayload
from domain.status import WEBHOOK_STATUSES
from domain.webhook import InboundMessage, ParsedWebhook, StatusUpdate, TemplateStatusChange

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
    biz_opaque_callback_data: str | None = None
    errors: list[_Error] | None = None


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


class _Message(msgspec.Struct, kw_only=True):
    id: str
    timestamp: str | int
    type: str = "unknown"
    from_: str = msgspec.field(name="from", default="")
    context: _Context | None = None
    button: _Button | None = None
    interactive: _Interactive | None = None
    text: _Text | None = None


class _Metadata(msgspec.Struct, kw_only=True):
    phone_number_id: str | None = None


class _Value(msgspec.Struct, kw_only=True):
    metadata: _Metadata | None = None
    statuses: list[msgspec.Raw] | None = None
    messages: list[msgspec.Raw] | None = None


class _OtherInfo(msgspec.Struct, kw_only=True):
    title: str | None = None


class _TemplateStatus(msgspec.Struct, kw_only=True):
    event: str = ""
    message_template_id: int | str | None = None
    message_template_name: str = ""
    message_template_language: str = ""
    reason: str | None = None
    other_info: _OtherInfo | None = None


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


def parse_webhook(body: bytes) -> ParsedWebhook:
    try:
        envelope = _envelope.decode(body)
        if envelope.object != "whatsapp_business_account":
            raise MalformedWebhook(f"object is {envelope.object!r}")
        statuses: list[StatusUpdate] = []
        messages: list[InboundMessage] = []
        phone_ids: list[str] = []
        templates: list[TemplateStatusChange] = []
        other: list[str] = []
        for entry in envelope.entry:
            for change in entry.changes:
                if change.field == TEMPLATE_STATUS_FIELD:
                    template = _template_change(entry.id, change.value)
                    if template is not None:
                        templates.append(template)
                    continue
                if change.field != "messages":
                    other.append(change.field)
                    continue
                value = _value.decode(change.value)
                if value.metadata and value.metadata.phone_number_id:
                    phone_ids.append(value.metadata.phone_number_id)
                for raw in value.statuses or []:
                    update = _status_update(raw)
                    if update is not None:
                        statuses.append(update)
                for raw in value.messages or []:
                    messages.append(_inbound(raw))
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise MalformedWebhook(str(exc)[:500]) from exc
    return ParsedWebhook(
        statuses=tuple(statuses),
        messages=tuple(messages),
        phone_number_ids=tuple(dict.fromkeys(phone_ids)),
        template_changes=tuple(templates),
        other_fields=tuple(other),
    )


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


def _timestamp(value: str | int) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)


def _status_update(raw: msgspec.Raw) -> StatusUpdate | None:
    status = _status.decode(raw)
    mapped = WEBHOOK_STATUSES.get(status.status)
    if mapped is None:  # e.g. "deleted", "warning": nothing a tick can show
        return None
    error = status.errors[0] if status.errors else None
    return StatusUpdate(
        message_id=status.id,
        status=mapped,
        timestamp=_timestamp(status.timestamp),
        recipient_id=status.recipient_id,
        client_ref=status.biz_opaque_callback_data,
        error_code=error.code if error else None,
        error_title=(error.title or error.message) if error else None,
        payload=bytes(raw).decode("utf-8", errors="replace"),
    )


def _inbound(raw: msgspec.Raw) -> InboundMessage:
    message = _message.decode(raw)
    reply = None
    if message.interactive is not None:
        reply = message.interactive.button_reply or message.interactive.list_reply
    return InboundMessage(
        message_id=message.id,
        from_phone=message.from_,
        timestamp=_timestamp(message.timestamp),
        type=message.type,
        context_message_id=message.context.id if message.context else None,
        button_payload=message.button.payload if message.button else None,
        button_text=message.button.text if message.button else None,
        reply_id=reply.id if reply else None,
        reply_title=reply.title if reply else None,
        text=message.text.body if message.text else None,
        payload=bytes(raw).decode("utf-8", errors="replace"),
    )
