"""The demo's Meta: sends are built as for Meta, checked against its limits and kept in memory."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import NoReturn

from domain.errors import PermanentSendError
from domain.messages import Content, InteractiveMessage, SendReceipt, TemplateMessage, TextMessage
from domain.settings import SenderConnection
from domain.templates import BUTTON_PAYLOAD_MAX, BUTTON_TITLE_MAX, MetaTemplate, placeholder_count
from infrastructure.db.seed_data import SHIPPED_TEMPLATES
from infrastructure.meta.payloads import SendBody, send_body

#: Meta's limits on what a send may hold (docs/meta.md#sends).
MAX_REPLY_BUTTONS = 3
INTERACTIVE_BODY_MAX = 1024
TEXT_BODY_MAX = 4096


@dataclass(frozen=True, slots=True)
class SandboxSend:
    """One accepted send: the sender number, the exact request body, our reference."""

    phone_number_id: str
    body: SendBody
    client_ref: str


class SandboxWhatsApp:
    """``WhatsAppGateway`` that never leaves the process; ``sent`` holds every accepted send.

    It refuses what Meta's schema refuses for the kinds we send (code 100), so the demo does
    not hide a message Meta would bounce. It cannot know Meta's template catalogue, so template
    names and parameter counts are not checked here.
    """

    def __init__(self) -> None:
        self.sent: list[SandboxSend] = []

    async def send(
        self,
        sender: SenderConnection,
        to: str,
        content: Content,
        *,
        client_ref: str,
        context_message_id: str | None = None,
    ) -> SendReceipt:
        _check(content)
        body = send_body(to, content, client_ref=client_ref, context_message_id=context_message_id)
        self.sent.append(SandboxSend(sender.phone_number_id, body, client_ref))
        return SendReceipt(
            message_id=f"wamid.sandbox.{uuid.uuid4().hex}",
            wa_id=to.removeprefix("+"),
            # Like Meta, only template sends carry a message_status.
            message_status="accepted" if isinstance(content, TemplateMessage) else None,
        )


def _check(content: Content) -> None:
    if isinstance(content, TemplateMessage):
        if not content.name or not content.language:
            _invalid("template name and language are required")
        if any(not p or len(p) > BUTTON_PAYLOAD_MAX for p in content.button_payloads):
            _invalid(f"a button payload must be 1..{BUTTON_PAYLOAD_MAX} characters")
    elif isinstance(content, InteractiveMessage):
        buttons = content.buttons
        if not 1 <= len(buttons) <= MAX_REPLY_BUTTONS:
            _invalid(f"an interactive message takes 1..{MAX_REPLY_BUTTONS} reply buttons")
        if any(not b.title or len(b.title) > BUTTON_TITLE_MAX for b in buttons):
            _invalid(f"a button title must be 1..{BUTTON_TITLE_MAX} characters")
        if any(not b.id or len(b.id) > BUTTON_PAYLOAD_MAX for b in buttons):
            _invalid(f"a button id must be 1..{BUTTON_PAYLOAD_MAX} characters")
        if len({b.id for b in buttons}) < len(buttons):
            _invalid("button ids must be unique")
        if len({b.title for b in buttons}) < len(buttons):
            _invalid("button titles must be unique")
        if not 1 <= len(content.body) <= INTERACTIVE_BODY_MAX:
            _invalid(f"an interactive body must be 1..{INTERACTIVE_BODY_MAX} characters")
    elif isinstance(content, TextMessage) and not 1 <= len(content.body) <= TEXT_BODY_MAX:
        _invalid(f"a text body must be 1..{TEXT_BODY_MAX} characters")


def _invalid(details: str) -> NoReturn:
    raise PermanentSendError(100, f"(#100) Invalid parameter: {details}")


class SandboxTemplateCatalog:
    """``TemplateCatalog`` listing the shipped default templates, all APPROVED, for any sender."""

    def __init__(self) -> None:
        self._templates = [
            MetaTemplate(
                id=f"sandbox-{row['template_name']}-{row['language']}",
                name=row["template_name"],
                language=row["language"],
                status="APPROVED",
                category="UTILITY",
                body=row["template_body"],
                body_parameter_count=placeholder_count(row["template_body"]),
                quick_replies=tuple(b["title"] for b in row["buttons"]),
            )
            for row in SHIPPED_TEMPLATES
        ]

    async def templates(self, sender: SenderConnection) -> list[MetaTemplate]:
        return list(self._templates)

    def invalidate(self, waba_id: str) -> None:
        """Nothing is remembered: the list is fixed."""
