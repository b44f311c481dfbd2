"""Meta's webhook format, behind ports: the signature scheme and the payload decoder."""

from __future__ import annotations

from typing import Protocol

from domain.webhook import ParsedWebhook


class WebhookVerifier(Protocol):
    def is_valid(self, body: bytes, signature: str | None, secret: str) -> bool: ...


class WebhookDecoder(Protocol):
    def decode(self, body: bytes) -> ParsedWebhook:
        """Raises ``MalformedPayload`` for a body that is not a WhatsApp webhook."""
