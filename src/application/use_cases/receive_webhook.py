"""A webhook POST from Meta: checked against the connection's app secret, stored, answered.

Bodies are stored with group commit (``application.inbox_writer``): concurrent POSTs share one
transaction, and each is answered once that transaction has committed."""

from __future__ import annotations

from application.inbox_writer import InboxWriter
from application.ports.clock import Clock
from application.ports.webhooks import WebhookVerifier
from application.services import SenderResolver
from domain.errors import InvalidSignature, NotConfigured, NotFound, UpstreamRejected
from domain.records import WebhookDelivery
from domain.settings import DEFAULT_CONNECTION_ID


class ReceiveWebhook:
    def __init__(
        self, inbox: InboxWriter, senders: SenderResolver, verifier: WebhookVerifier, clock: Clock
    ) -> None:
        self._inbox = inbox
        self._senders = senders
        self._verifier = verifier
        self._clock = clock

    async def __call__(
        self, connection_id: int | None, body: bytes, signature: str | None
    ) -> WebhookDelivery:
        """Stored for processing; raises ``InvalidSignature`` (nothing stored) or
        ``NotConfigured`` when there is no secret to check against (fail closed)."""
        secret = await self._secret(connection_id)
        if not secret:
            raise NotConfigured("no app secret for this connection: webhooks are refused")
        if not self._verifier.is_valid(body, signature, secret):
            raise InvalidSignature("X-Hub-Signature-256 is missing or does not match")
        # Durable before the answer; stored together with the bodies of concurrent POSTs.
        return await self._inbox.store(
            WebhookDelivery(connection_id=connection_id, body=body, received_at=self._clock.now())
        )

    async def _secret(self, connection_id: int | None) -> str:
        try:
            return await self._senders.app_secret(
                DEFAULT_CONNECTION_ID if connection_id is None else connection_id
            )
        except NotFound:
            raise InvalidSignature(f"unknown connection {connection_id}") from None
        except UpstreamRejected as exc:  # e.g. the engine has no app secret for it
            raise NotConfigured(f"connection {connection_id}: {exc}") from None
