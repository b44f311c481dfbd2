"""What we send, as the JSON kept in ``wa_outgoing_messages.payload`` and in saved decisions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from domain.messages import Content, InteractiveMessage, QuickReply, TemplateMessage, TextMessage


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


def content_json(content: Content) -> str:
    return json.dumps(content_to_dict(content), ensure_ascii=False)


def content_from_json(text: str) -> Content:
    return content_from_dict(json.loads(text))
