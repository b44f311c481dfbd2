"""The pull worker's promises: ack only after the outcome, nack to retry, strand nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

import structlog
from dishka import AsyncContainer
from prometheus_client import REGISTRY

from application.ports.collaborators import ReceivedEvent
from application.ports.shipment_events import DecodedEvent
from application.use_cases.notify_failed_delivery import Planned
from application.use_cases.recheck_unknown_sends import Rechecked, RecheckUnknownSends
from composition.container import build_container
from domain.errors import UnreadableRecord
from domain.outcomes import ShipmentEvent, ShipmentEventKind
from entrypoints.worker import Worker, _Pulled, pull_size
from infrastructure.config import Config


class SlowPull:
    """A pull that is on its way when the worker is told to stop, and then brings an event."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.nacked: list[tuple[list[str], int]] = []
        self.acked: list[str] = []
        self.pulls = 0
        self.pulling = asyncio.Event()
        self._stop = stop

    async def receive(self, max_messages: int) -> list[ReceivedEvent]:
        self.pulls += 1
        if self.pulls > 1:
            await asyncio.sleep(3600)
        self.pulling.set()
        await self._stop.wait()
        await asyncio.sleep(0.2)  # lands after the worker saw the stop (the loop is idle)
        return [ReceivedEvent(ack_id="a1", message_id="m1", data=b"{}")]

    async def ack(self, ack_ids: list[str]) -> None:
        self.acked.extend(ack_ids)

    async def nack(self, ack_ids: list[str], delay_seconds: int = 0) -> None:
        self.nacked.append((ack_ids, delay_seconds))


async def test_a_pull_landing_after_stop_is_handed_back_not_stranded() -> None:
    container = build_container(Config(database_url="sqlite+aiosqlite:///:memory:"))
    stop = asyncio.Event()
    source = SlowPull(stop)
    try:
        run = asyncio.create_task(Worker(container, source).run(stop))
        await asyncio.wait_for(source.pulling.wait(), 60)  # the first pull is on its way
        stop.set()
        await asyncio.wait_for(run, 60)
    finally:
        await container.close()
    assert source.nacked == [(["a1"], 0)]
    assert source.acked == []


async def until(condition: Callable[[], bool], within: float = 60.0) -> None:
    """Waits until ``condition`` holds (or ``within`` seconds have passed)."""
    for _ in range(int(within / 0.05)):
        await asyncio.sleep(0.05)
        if condition():
            return


class OneBatch(SlowPull):
    """One pull of shipment events that need no handling, then nothing."""

    async def receive(self, max_messages: int) -> list[ReceivedEvent]:
        self.pulls += 1
        if self.pulls > 1:
            await asyncio.sleep(0.1)
            return []
        data = b'{"resource":"shipment","eventSubType":"intransit","response_data":{"id":1}}'
        return [ReceivedEvent(ack_id=f"a{n}", message_id=f"m{n}", data=data) for n in range(3)]


async def test_events_needing_no_handling_are_acknowledged_from_the_batch() -> None:
    container = build_container(Config(database_url="sqlite+aiosqlite:///:memory:"))
    stop = asyncio.Event()
    source = OneBatch(stop)
    worker = Worker(container, source)
    try:
        run = asyncio.create_task(worker.run(stop))
        await until(lambda: len(source.acked) == 3)
        stop.set()
        await asyncio.wait_for(run, 60)
    finally:
        await container.close()
    assert sorted(source.acked) == ["a0", "a1", "a2"]
    assert worker.handled == 3


class EndlessPulls(SlowPull):
    """Every pull brings as many events as asked for."""

    def __init__(self, stop: asyncio.Event) -> None:
        super().__init__(stop)
        self.asked: list[int] = []

    async def receive(self, max_messages: int) -> list[ReceivedEvent]:
        self.asked.append(max_messages)
        first = sum(self.asked[:-1])
        return [
            ReceivedEvent(ack_id=f"a{n}", message_id=f"m{n}", data=b"{}")
            for n in range(first, first + max_messages)
        ]


class GatedWorker(Worker):
    """Handles a batch (acks its events) only once ``gate`` opens; every event needs handling."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.gate = asyncio.Event()
        self.started: list[list[str]] = []

    async def _triage(
        self, batch: list[ReceivedEvent]
    ) -> tuple[list[ReceivedEvent], list[DecodedEvent] | None]:
        return batch, None

    async def _handle_batch(self, pulled: _Pulled) -> None:
        self.started.append([event.ack_id for event in pulled.events])
        await self.gate.wait()
        self._acks.extend(event.ack_id for event in pulled.events)


async def test_the_next_pull_waits_ready_while_batches_are_handled_and_is_handed_back_on_stop() -> (
    None
):
    container = build_container(Config(database_url="sqlite+aiosqlite:///:memory:"))
    stop = asyncio.Event()
    source = EndlessPulls(stop)
    worker = GatedWorker(container, source, concurrency=64, batch_size=100)
    try:
        run = asyncio.create_task(worker.run(stop))
        await until(lambda: len(source.asked) == 3)
        # Two batches of half the concurrency each, and a third pull that waits for room.
        assert source.asked == [32, 32, 32]
        assert [len(batch) for batch in worker.started] == [32, 32]
        stop.set()
        await asyncio.sleep(0.1)
        worker.gate.set()
        await asyncio.wait_for(run, 60)
    finally:
        await container.close()
    assert source.nacked == [([f"a{n}" for n in range(64, 96)], 0)]  # handed back, not started
    assert sorted(source.acked) == sorted(f"a{n}" for n in range(64))


def test_a_pull_is_half_the_concurrency_but_no_batch_is_made_small_for_it() -> None:
    assert [pull_size(c, 100) for c in (1, 32, 63, 64, 128, 256)] == [1, 32, 63, 32, 64, 100]


PLANNED = cast(Planned, object())


class PlansAhead(Worker):
    """Its plans read ahead are a marker; nothing else is asked of it."""

    async def _plan(self, decoded: list[DecodedEvent]) -> Planned | None:
        return PLANNED


def _about(*shipments: int) -> tuple[list[ReceivedEvent], list[DecodedEvent]]:
    events = [ReceivedEvent(ack_id=f"a{n}", message_id=f"m{n}", data=b"{}") for n in shipments]
    decoded: list[DecodedEvent] = [
        ShipmentEvent(shipment_id=n, status_log_id=1, kind=ShipmentEventKind.DELIVERED)
        for n in shipments
    ]
    return events, decoded


async def test_a_plan_read_ahead_is_dropped_when_another_batch_may_have_written_its_shipments() -> (
    None
):
    """A batch of this worker in flight when a plan was read, or started since, may have
    written a newer attempt of one of its shipments that the plan did not see (and that no
    unique key catches): the batch then plans again when it starts. Other plans are kept."""
    worker = PlansAhead(cast(AsyncContainer, None), SlowPull(asyncio.Event()))
    running, _ = worker._start(_Pulled(*_about(7), shipments=frozenset({7})))  # in flight
    while_seven_runs = await worker._plan_ahead(*_about(7, 8))
    while_it_runs_too = await worker._plan_ahead(*_about(11))
    before_nine = await worker._plan_ahead(*_about(9))
    worker._start(_Pulled(*_about(9), shipments=frozenset({9})))  # started after those
    await worker._handle(running, _Pulled([], None))  # the first batch ends (nothing left)

    assert worker._start(while_seven_runs)[1].planned is None
    assert worker._start(before_nine)[1].planned is None
    assert worker._start(while_it_runs_too)[1].planned is PLANNED
    # A batch whose shipments are not known (its events not decoded) may have written any.
    worker._start(_Pulled(*_about(5), shipments=None))
    assert worker._start(await worker._plan_ahead(*_about(12)))[1].planned is None


class _Recheck:
    """The recheck the worker gets from its container: every pass meets the same rows that
    cannot be read."""

    def __init__(self, *unreadable: UnreadableRecord) -> None:
        self._unreadable = unreadable
        self.passes = 0

    async def __call__(self) -> Rechecked:
        self.passes += 1
        return Rechecked(unreadable=self._unreadable)

    async def count_by_age(self) -> dict[str, int]:
        return {}


class _Scope:
    def __init__(self, recheck: _Recheck) -> None:
        self._recheck = recheck

    def __call__(self) -> _Scope:  # a request scope of the container
        return self

    async def __aenter__(self) -> _Scope:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    async def get(self, kind: object) -> _Recheck:
        assert kind is RecheckUnknownSends
        return self._recheck


def _passed() -> float:
    return REGISTRY.get_sample_value("fdr_unknown_sends_unreadable_rows_total") or 0.0


async def test_a_row_that_stays_unreadable_is_logged_once_a_while_and_counted_each_pass() -> None:
    # Met on every pass (about every 30 s) till a human mends it: a warning each time was
    # about 2,900 lines a day per worker for one row.
    rows = [
        UnreadableRecord(f"wa_conversations row {row_id}: created_at holds a zero date")
        for row_id in (7, 8)
    ]
    recheck = _Recheck(*rows)
    worker = Worker(cast(AsyncContainer, _Scope(recheck)), SlowPull(asyncio.Event()))
    before = _passed()

    with structlog.testing.capture_logs() as logs:
        await worker.recheck_unknown_sends()
        await worker.recheck_unknown_sends()

    assert recheck.passes == 2
    warned = [e for e in logs if e["event"] == "unknown send not looked at: a row cannot be read"]
    assert sorted(e["error"].split(":")[0] for e in warned) == [
        "wa_conversations row 7",
        "wa_conversations row 8",
    ]
    assert "exc_info" not in warned[0]  # a row for a human to mend, not a bug
    assert _passed() - before == 4  # each row, each pass: an operator alerts on it
