"""Meta's side: sending messages and listing the templates a business account has."""

from __future__ import annotations

from typing import Protocol

from domain.messages import Content, SendReceipt
from domain.settings import SenderConnection
from domain.templates import MetaTemplate, WaTemplate


class WhatsAppGateway(Protocol):
    async def send(
        self,
        sender: SenderConnection,
        to: str,
        content: Content,
        *,
        client_ref: str,
        context_message_id: str | None = None,
    ) -> SendReceipt:
        """Sends one message to ``to`` (E.164 digits).

        Raises ``RetryableSendError``, ``PermanentSendError`` or ``SendOutcomeUnknown``.
        """


class TemplateCatalog(Protocol):
    async def templates(self, sender: SenderConnection) -> list[MetaTemplate]:
        """Every template of the sender's business account (all pages)."""

    def invalidate(self, waba_id: str) -> None:
        """Forget what is remembered of this business account's templates (Meta said one
        changed); the next ``templates`` call asks Meta."""


class ThroughputLimiter(Protocol):
    async def acquire(self, phone_number_id: str) -> None:
        """Waits until one more message may leave this sender number (its slot)."""

    async def reserve(self, phone_number_id: str, count: int) -> list[float]:
        """Books ``count`` slots of the number at once (one call to the shared book), as
        ``count`` calls of ``acquire`` at that instant would; when each comes, in order, for
        ``wait_for``."""

    async def wait_for(self, slot: float) -> None:
        """Waits until ``slot`` (one of ``reserve``'s) has come."""

    def come(self, slot: float) -> bool:
        """Whether ``slot`` (one of ``reserve``'s) has come: ``wait_for`` would not wait."""

    async def depart(self, phone_number_id: str) -> None:
        """Just before a request leaves: waits while as many of this process's requests from
        the number as it may send in a second left within the last second. Slots taken apart
        but written in flight together would otherwise leave together (docs/meta.md#limits)."""


class TemplateRegistry(Protocol):
    async def create(self, sender: SenderConnection, template: WaTemplate) -> MetaTemplate:
        """Submits the template to the sender's business account for Meta's review; Meta's
        answer (id, status, usually PENDING). Raises ``Conflict`` when Meta already has that
        name in that language, ``UpstreamRejected`` with Meta's reason, or
        ``UpstreamUnavailable``."""
