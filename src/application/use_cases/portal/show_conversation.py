"""One conversation as the shopper saw it: the thread, and each message's text and buttons."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from application.use_cases.portal.get_conversation_thread import GetConversationThread, ThreadView
from application.use_cases.portal.get_template import GetTemplate
from domain.errors import NotFound
from domain.messages import MessageKind, OutgoingMessage
from domain.phone import mask, mask_numbers_in
from domain.templates import TemplateVariable, WaTemplate, filled


@dataclass(frozen=True, slots=True, kw_only=True)
class ShownMessage:
    """What a message looked like on the shopper's phone (their own numbers masked)."""

    text: str
    buttons: tuple[str, ...] = ()
    # What a tap on each button sends back (a template's payloads, an interactive's reply ids).
    replies: tuple[str, ...] = ()
    template_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationShown:
    view: ThreadView
    shown: dict[int, ShownMessage] = field(default_factory=dict)  # by wa_outgoing_messages.id


class ShowConversation:
    """The portal's thread plus the text of each message, read back from what was recorded
    when it was sent (``payload``, see docs/console.md) and the template it used."""

    def __init__(self, thread: GetConversationThread, template: GetTemplate) -> None:
        self._thread = thread
        self._template = template

    async def __call__(self, account_id: int, conversation_id: int) -> ConversationShown:
        view = await self._thread(account_id, conversation_id)
        shown: dict[int, ShownMessage] = {}
        for entry in view.entries:
            if isinstance(entry, OutgoingMessage) and entry.id is not None:
                shown[entry.id] = await self._shown(account_id, entry)
        return ConversationShown(view=view, shown=shown)

    async def _shown(self, account_id: int, message: OutgoingMessage) -> ShownMessage:
        try:
            described = json.loads(message.payload or "{}")
        except ValueError:
            described = {}
        if not isinstance(described, dict):
            described = {}
        if message.kind is not MessageKind.TEMPLATE:
            buttons = [b for b in described.get("buttons") or [] if isinstance(b, dict)]
            return ShownMessage(
                text=mask_numbers_in(str(described.get("body", ""))),
                buttons=tuple(str(b.get("title", "")) for b in buttons),
                replies=tuple(str(b.get("id", "")) for b in buttons),
            )
        parameters = tuple(str(p) for p in described.get("body_parameters") or [])
        name = str(described.get("name", "")) or None
        template = await self._template_of(account_id, message)
        if template is None:  # deleted since: the values are all there is
            return ShownMessage(text=" · ".join(parameters), template_name=name)
        parameters = tuple(
            mask(value)
            if i < len(template.variables)
            and template.variables[i] is TemplateVariable.CUSTOMER_PHONE
            else value
            for i, value in enumerate(parameters)
        )
        return ShownMessage(
            text=filled(template.template_body, template.variables, parameters),
            buttons=tuple(b.title for b in template.buttons),
            replies=tuple(str(p) for p in described.get("button_payloads") or []),
            template_name=name or template.template_name,
        )

    async def _template_of(self, account_id: int, message: OutgoingMessage) -> WaTemplate | None:
        if message.template_id is None:
            return None
        try:
            return (await self._template(account_id, message.template_id)).template
        except NotFound:
            return None
