"""The JSON bodies of ``POST /{version}/{phone-number-id}/messages``, one per kind of content."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from domain.messages import Content, InteractiveMessage, TemplateMessage, TextMessage

#: The longest ``biz_opaque_callback_data`` Meta takes (docs/meta.md#no-idempotency-key).
CALLBACK_DATA_MAX = 512


class TextParameter(TypedDict):
    type: Literal["text"]
    text: str


class PayloadParameter(TypedDict):
    type: Literal["payload"]
    payload: str


class BodyComponent(TypedDict):
    type: Literal["body"]
    parameters: list[TextParameter]


class QuickReplyComponent(TypedDict):
    type: Literal["button"]
    sub_type: Literal["quick_reply"]
    index: str
    parameters: list[PayloadParameter]


class Language(TypedDict):
    code: str


class TemplatePart(TypedDict):
    name: str
    language: Language
    components: NotRequired[list[BodyComponent | QuickReplyComponent]]


class Reply(TypedDict):
    id: str
    title: str


class ReplyButton(TypedDict):
    type: Literal["reply"]
    reply: Reply


class ButtonsAction(TypedDict):
    buttons: list[ReplyButton]


class BodyText(TypedDict):
    text: str


class InteractivePart(TypedDict):
    type: Literal["button"]
    body: BodyText
    action: ButtonsAction


class TextPart(TypedDict):
    body: str
    preview_url: bool


class Context(TypedDict):
    message_id: str


class SendBody(TypedDict):
    """A send request exactly as it goes over the wire (and as ``wa_outgoing_messages.payload``)."""

    messaging_product: Literal["whatsapp"]
    recipient_type: Literal["individual"]
    to: str
    type: Literal["template", "interactive", "text"]
    biz_opaque_callback_data: str
    context: NotRequired[Context]
    template: NotRequired[TemplatePart]
    interactive: NotRequired[InteractivePart]
    text: NotRequired[TextPart]


def send_body(
    to: str, content: Content, *, client_ref: str, context_message_id: str | None = None
) -> SendBody:
    """The request body sending ``content`` to ``to`` (E.164 digits, with or without ``+``)."""
    if not client_ref or len(client_ref) > CALLBACK_DATA_MAX:
        # A programming error, not a send failure: our refs are short ids.
        raise ValueError(f"client_ref must be 1..{CALLBACK_DATA_MAX} characters")
    # Without "+", Meta prefixes the business number's country code (docs/meta.md#numbers).
    body: SendBody = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+" + to.removeprefix("+"),
        "type": "text",
        "biz_opaque_callback_data": client_ref,
    }
    if isinstance(content, TemplateMessage):
        body["type"] = "template"
        body["template"] = template_part(content)
    elif isinstance(content, InteractiveMessage):
        body["type"] = "interactive"
        body["interactive"] = interactive_part(content)
    else:
        body["text"] = text_part(content)
    if context_message_id is not None:
        body["context"] = {"message_id": context_message_id}
    return body


def template_part(message: TemplateMessage) -> TemplatePart:
    components: list[BodyComponent | QuickReplyComponent] = []
    if message.body_parameters:
        components.append(
            {
                "type": "body",
                "parameters": [{"type": "text", "text": v} for v in message.body_parameters],
            }
        )
    for index, payload in enumerate(message.button_payloads):
        components.append(
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": str(index),
                "parameters": [{"type": "payload", "payload": payload}],
            }
        )
    part: TemplatePart = {"name": message.name, "language": {"code": message.language}}
    if components:
        part["components"] = components
    return part


def interactive_part(message: InteractiveMessage) -> InteractivePart:
    return {
        "type": "button",
        "body": {"text": message.body},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in message.buttons
            ]
        },
    }


def text_part(message: TextMessage) -> TextPart:
    # preview_url belongs inside "text"; at the top level Meta rejects the body
    # (docs/meta.md#sends).
    return {"body": message.body, "preview_url": message.preview_url}
