"""The rest of the logistics platform: connections, NDR actions, the activity timeline, events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from domain.activity import ActivityEvent
from domain.ndr import NdrAction
from domain.settings import ConnectionSummary, SenderConnection


class ConnectionDirectory(Protocol):
    """The integration engine: which WhatsApp apps a workspace installed, and their credentials."""

    async def connections(self, account_id: int) -> list[ConnectionSummary]: ...

    async def sender(self, connection_id: int) -> SenderConnection:
        """Raises ``NotFound`` for an unknown connection, ``UpstreamUnavailable`` when down."""


class NdrActions(Protocol):
    """The ESB's NDR API (``_ah/ESB/v1/ndrNotification``)."""

    async def perform(self, action: NdrAction) -> str:
        """The ESB's reference (``""`` when it gave none); raises ``UpstreamRejected`` (refused)
        or ``UpstreamUnavailable`` (ask again later)."""


class ActivityPublisher(Protocol):
    async def publish(self, event: ActivityEvent) -> None: ...

    async def publish_many(self, events: Sequence[ActivityEvent]) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedEvent:
    ack_id: str
    message_id: str
    data: bytes
    attributes: Mapping[str, str] = field(default_factory=dict)
    delivery_attempt: int = 1


class EventSource(Protocol):
    """Where shipment events come from (a Pub/Sub subscription)."""

    async def receive(self, max_messages: int) -> list[ReceivedEvent]: ...

    async def ack(self, ack_ids: list[str]) -> None: ...

    async def nack(self, ack_ids: list[str], delay_seconds: int = 0) -> None:
        """Hands the events back for redelivery after ``delay_seconds``."""


class OutcomeEventSource(EventSource, Protocol):
    """The optional second subscription, for the shipment events after a failed attempt
    (``WA_PUBSUB_OUTCOME_SUBSCRIPTION``, docs/outcomes.md): an event source of its own."""
