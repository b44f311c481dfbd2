"""Test doubles for the use-case tests: a scripted WhatsApp, a fixed clock, a fixed sender."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from application.ports.cache import CacheRead
from domain.messages import Content, SendReceipt
from domain.settings import ConnectionSummary, SenderConnection
from tests.support.factories import T0

DEFAULT_SENDER = SenderConnection(
    connection_id=0,
    account_id=5,
    phone_number_id="106540352242922",
    waba_id="102290129340398",
    access_token="token-default",
    app_secret="secret-default",
    display_phone_number="15550783881",
)


@dataclass(frozen=True, slots=True)
class Sent:
    sender: SenderConnection
    to: str
    content: Content
    client_ref: str
    context_message_id: str | None


@dataclass
class ScriptedWhatsApp:
    """Sends succeed with fresh wamids unless an error was scripted for the next call."""

    sent: list[Sent] = field(default_factory=list)
    script: deque[Exception] = field(default_factory=deque)
    calls: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def fail_next(self, *errors: Exception) -> None:
        self.script.extend(errors)

    async def send(
        self,
        sender: SenderConnection,
        to: str,
        content: Content,
        *,
        client_ref: str,
        context_message_id: str | None = None,
    ) -> SendReceipt:
        self.calls += 1
        if self.script:
            raise self.script.popleft()
        self.sent.append(Sent(sender, to, content, client_ref, context_message_id))
        return SendReceipt(message_id=f"wamid.TEST{next(self._ids):06d}", wa_id=to)


class NoLimit:
    async def acquire(self, phone_number_id: str) -> None:
        return None

    async def reserve(self, phone_number_id: str, count: int) -> list[float]:
        return [0.0] * count

    async def wait_for(self, slot: float) -> None:
        return None

    def come(self, slot: float) -> bool:
        return True

    async def depart(self, phone_number_id: str) -> None:
        return None


@dataclass
class FixedClock:
    current: datetime = T0

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass
class CountingRefs:
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_ref(self) -> str:
        return f"ref{next(self.counter):08d}"


@dataclass
class StaticDirectory:
    """Connections known by id; anything else is NotFound."""

    senders: dict[int, SenderConnection] = field(default_factory=dict)

    async def connections(self, account_id: int) -> list[ConnectionSummary]:
        return []

    async def sender(self, connection_id: int) -> SenderConnection:
        from domain.errors import NotFound

        try:
            return self.senders[connection_id]
        except KeyError:
            raise NotFound("connection", connection_id) from None


class BrokenCache:
    """A settings cache whose server is down."""

    async def get(self, account_id: int) -> CacheRead:
        from domain.errors import UpstreamUnavailable

        raise UpstreamUnavailable("cache down")

    async def put(self, setting: object, generation: str) -> None:
        from domain.errors import UpstreamUnavailable

        raise UpstreamUnavailable("cache down")

    async def invalidate(self, account_id: int) -> None:
        from domain.errors import UpstreamUnavailable

        raise UpstreamUnavailable("cache down")
