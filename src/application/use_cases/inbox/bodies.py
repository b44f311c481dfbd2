"""A pass's webhook bodies in memory: what each element came to, and the pass's counts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from domain.errors import UpstreamUnavailable, describe
from domain.records import WebhookDelivery
from domain.webhook import ElementProblem, ElementProblemKind, ParsedWebhook, StatusUpdate

T = TypeVar("T")

#: Statuses recorded per transaction. Meta batches up to 1000 per POST, so a pass of 500
#: bodies could hold half a million rows, parameters and events in memory at once; and the
#: POSTs are answered on the same event loop, which a larger chunk holds for longer.
STATUSES_PER_TRANSACTION = 500


@dataclass(slots=True)
class ProcessedBatch:
    taken: int = 0
    retried: int = 0  # taken bodies that were waiting already (they come after every fresh one)
    processed: int = 0
    statuses: int = 0
    replies: int = 0
    refused: int = 0  # answers that named a conversation they are not bound to
    unmatched: int = 0  # messages that answer no conversation (e.g. to a number we don't know)
    template_changes: int = 0
    malformed: int = 0
    problems: dict[str, int] = field(default_factory=dict)  # new element problems, by kind
    waiting: list[int] = field(default_factory=list)

    @property
    def more_may_wait(self) -> bool:
        """Another pass now could find fresh bodies: this one made progress and did not reach
        the bodies waiting for a retry (which are taken only after every fresh one)."""
        return self.taken > len(self.waiting) and self.retried == 0


@dataclass(slots=True)
class Body:
    delivery: WebhookDelivery
    parsed: ParsedWebhook
    problems: list[ElementProblem] = field(default_factory=list)
    wait: UpstreamUnavailable | None = None

    @property
    def id(self) -> int:
        assert self.delivery.id is not None
        return self.delivery.id

    @property
    def again(self) -> bool:
        """Taken again after it had to wait (Meta or the ESB unavailable): its answers were
        most likely stored and decided the first time."""
        return self.delivery.error is not None or self.delivery.attempts > 0

    def failed(self, element: str, exc: Exception) -> None:
        self.problems.append(
            ElementProblem(
                element=element, kind=ElementProblemKind.NOT_STORED, detail=describe(exc)
            )
        )

    def waits(self, exc: UpstreamUnavailable) -> None:
        if self.wait is None:
            self.wait = exc


def by_message(
    items: Sequence[tuple[T, StatusUpdate]], size: int = STATUSES_PER_TRANSACTION
) -> Iterator[list[tuple[T, StatusUpdate]]]:
    """Chunks of about ``size`` statuses, every status of one message in the same chunk (the
    order of a message's ticks is settled within one call)."""
    by_message: dict[str, list[tuple[T, StatusUpdate]]] = {}
    for item in items:
        by_message.setdefault(item[1].message_id, []).append(item)
    chunk: list[tuple[T, StatusUpdate]] = []
    for group in by_message.values():
        if chunk and len(chunk) + len(group) > size:
            yield chunk
            chunk = []
        chunk.extend(group)
    if chunk:
        yield chunk
