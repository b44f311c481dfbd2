"""In-memory twins of the integration engine and the ESB, with the same answers and errors."""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections import deque
from collections.abc import Iterable

from domain.errors import DomainError, NotFound, UpstreamRejected, UpstreamUnavailable
from domain.ndr import NdrAction, NdrActionKind
from domain.settings import ConnectionSummary, SenderConnection
from infrastructure.esb.ndr import NdrNotification, idempotency_key

_E164_DIGITS = re.compile(r"\d{8,15}")


class _Failures:
    """Errors to raise on the next calls, in order, like a flaky upstream."""

    def __init__(self, default: str) -> None:
        self._default = default
        self._queue: deque[DomainError] = deque()

    def add(self, times: int, error: DomainError | None) -> None:
        self._queue.extend([error or UpstreamUnavailable(self._default)] * times)

    def raise_next(self) -> None:
        if self._queue:
            raise self._queue.popleft()


@dataclasses.dataclass(frozen=True, slots=True)
class _Installed:
    sender: SenderConnection
    app: str
    active: bool

    @property
    def usable(self) -> bool:
        return self.app == "whatsapp" and self.active


class InMemoryConnectionDirectory:
    """Connections as the integration engine would hold them; ``calls`` counts lookups answered."""

    def __init__(self, senders: Iterable[SenderConnection] = ()) -> None:
        self._installed: dict[int, _Installed] = {}
        self._failures = _Failures("in-memory integration engine: injected failure")
        self.calls = 0
        for sender in senders:
            self.install(sender)

    def install(
        self, sender: SenderConnection, *, app: str = "whatsapp", active: bool = True
    ) -> None:
        self._installed[sender.connection_id] = _Installed(sender, app, active)

    def uninstall(self, connection_id: int) -> None:
        self._installed.pop(connection_id, None)

    def fail_next(self, times: int = 1, error: DomainError | None = None) -> None:
        """The next ``times`` calls raise ``error`` (default ``UpstreamUnavailable``)."""
        self._failures.add(times, error)

    async def connections(self, account_id: int) -> list[ConnectionSummary]:
        self.calls += 1
        self._failures.raise_next()
        return [
            ConnectionSummary(
                connection_id=i.sender.connection_id,
                account_id=i.sender.account_id,
                name=i.sender.name,
                app=i.app,
                display_phone_number=i.sender.display_phone_number,
            )
            for i in sorted(self._installed.values(), key=lambda i: i.sender.connection_id)
            if i.sender.account_id == account_id and i.usable
        ]

    async def sender(self, connection_id: int) -> SenderConnection:
        self.calls += 1
        self._failures.raise_next()
        installed = self._installed.get(connection_id)
        if installed is None or not installed.usable:
            raise NotFound("connection", connection_id)
        return installed.sender


class InMemoryNdrActions:
    """Records what the ESB was asked; an action already seen (same key) returns its reference.

    With ``references=False`` it acts like an ESB that acknowledges without one (``""``).
    """

    def __init__(self, *, references: bool = True) -> None:
        self._references = references
        self.performed: list[NdrAction] = []  # copies, in order; never a duplicate
        self.calls = 0
        self._seen: dict[str, tuple[NdrNotification, str]] = {}
        self._numbers = itertools.count(1)
        self._failures = _Failures("in-memory ESB: injected failure")

    def fail_next(self, times: int = 1, error: DomainError | None = None) -> None:
        """The next ``times`` calls raise ``error`` (default ``UpstreamUnavailable``)."""
        self._failures.add(times, error)

    def reference_for(self, action: NdrAction) -> str | None:
        seen = self._seen.get(idempotency_key(action))
        return seen[1] if seen else None

    async def perform(self, action: NdrAction) -> str:
        self.calls += 1
        self._failures.raise_next()
        _check(action)
        notification = NdrNotification.of(action)
        seen = self._seen.get(notification.request_id)
        if seen is not None:
            if seen[0] != notification:
                raise UpstreamRejected(
                    f"ESB refused {action.kind.value} of shipment {action.shipment_id}: "
                    "the idempotency key was already used for a different request"
                )
            return seen[1]
        reference = f"MEM-NDR-{next(self._numbers)}" if self._references else ""
        self._seen[notification.request_id] = (notification, reference)
        self.performed.append(dataclasses.replace(action))
        return reference


def _check(action: NdrAction) -> None:
    """What the ESB refuses with 400 (docs/esb.md)."""
    what = f"{action.kind.value} of shipment {action.shipment_id}"
    if action.kind is NdrActionKind.RESCHEDULE and action.delivery_date is None:
        raise UpstreamRejected(f"ESB refused {what}: deliveryDate is required")
    if action.kind is not NdrActionKind.RESCHEDULE and action.delivery_date is not None:
        raise UpstreamRejected(f"ESB refused {what}: deliveryDate is only for reschedule")
    if action.kind is NdrActionKind.UPDATE_PHONE and not _E164_DIGITS.fullmatch(action.phone or ""):
        raise UpstreamRejected(f"ESB refused {what}: phone must be E.164 digits")
    if action.disputed_fake_attempt and action.kind is not NdrActionKind.REATTEMPT:
        raise UpstreamRejected(f"ESB refused {what}: disputedFakeAttempt is only for reattempt")
