"""What we send, as the JSON kept in ``wa_outgoing_messages.payload`` and in saved decisions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from domain.conversation import ConversationState
from domain.flows import Decision
from domain.messages import Content, InteractiveMessage, QuickReply, TemplateMessage, TextMessage
from domain.ndr import NdrActionKind


def content_to_dict(content: Content) -> dict[str, Any]:
    if isinstance(content, TemplateMessage):
        return {
            "type": "template",
            "name": content.name,
            "language": content.language,
            "body_parameters": list(content.body_parameters),
            "button_payloads": list(content.button_payloads),
        }
    if isinstance(content, InteractiveMessage):
        return {
            "type": "interactive",
            "body": content.body,
            "buttons": [{"id": b.id, "title": b.title} for b in content.buttons],
        }
    return {"type": "text", "body": content.body, "preview_url": content.preview_url}


def content_from_dict(data: Mapping[str, Any]) -> Content:
    """The content ``content_to_dict`` wrote; ``ValueError`` for anything else."""
    kind = data.get("type")
    if kind == "template":
        return TemplateMessage(
            name=data["name"],
            language=data["language"],
            body_parameters=tuple(data.get("body_parameters", ())),
            button_payloads=tuple(data.get("button_payloads", ())),
        )
    if kind == "interactive":
        return InteractiveMessage(
            body=data["body"],
            buttons=tuple(QuickReply(b["id"], b["title"]) for b in data.get("buttons", ())),
        )
    if kind == "text":
        return TextMessage(body=data["body"], preview_url=bool(data.get("preview_url", False)))
    raise ValueError(f"not a message we send: type {kind!r}")


#: ``json.dumps(..., ensure_ascii=False)`` builds an encoder per call; one built once writes
#: the same text (a batch writes a payload per send).
_encoder = json.JSONEncoder(ensure_ascii=False)


def content_json(content: Content) -> str:
    return _encoder.encode(content_to_dict(content))


def content_from_json(text: str) -> Content:
    return content_from_dict(json.loads(text))


def decision_json(decision: Decision) -> str:
    """A decision as it is saved on the shopper's reply, so a retry carries out the same one."""
    return json.dumps(
        {
            "message": content_to_dict(decision.message) if decision.message else None,
            "action": decision.action.value if decision.action else None,
            "delivery_date": decision.delivery_date.isoformat() if decision.delivery_date else None,
            "phone": decision.phone,
            "disputed_fake_attempt": decision.disputed_fake_attempt,
            "state": decision.state.value if decision.state else None,
            "nudge": decision.nudge,
            "why": decision.why,
        },
        ensure_ascii=False,
    )


def decision_from_json(text: str) -> Decision:
    data = json.loads(text)
    raw = data.get("message")
    message = content_from_dict(raw) if raw else None
    if isinstance(message, TemplateMessage):
        raise ValueError("a decision never sends a template")
    return Decision(
        message=message,
        action=NdrActionKind(data["action"]) if data.get("action") else None,
        delivery_date=date.fromisoformat(data["delivery_date"])
        if data.get("delivery_date")
        else None,
        phone=data.get("phone"),
        disputed_fake_attempt=bool(data.get("disputed_fake_attempt")),
        state=ConversationState(data["state"]) if data.get("state") else None,
        nudge=bool(data.get("nudge")),
        why=data.get("why", ""),
    )
