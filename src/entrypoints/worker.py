"""``fdr-whatsapp worker``: pulls shipment events with bounded concurrency, acks after the outcome.

An event is acknowledged only once its outcome is recorded; anything else (Meta throttling,
the database down, a crash) leaves it to Pub/Sub to deliver again, with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import structlog
from dishka import AsyncContainer

from application.ports.collaborators import EventSource, OutcomeEventSource, ReceivedEvent
from application.ports.shipment_events import DecodedEvent
from application.use_cases.intake import IntakeResult, ShipmentEventIntake
from application.use_cases.intake_triage import ShipmentEventTriage
from application.use_cases.notify_failed_delivery import Disposition, Planned
from application.use_cases.recheck_unknown_sends import RecheckUnknownSends
from domain.errors import UnreadableRecord, UpstreamUnavailable
from domain.failed_delivery import FailedDelivery
from domain.outcomes import ShipmentEvent
from entrypoints.metrics_server import run_with_metrics, stop_on_signals
from entrypoints.scheduler import SchedulerLoop
from infrastructure.config import Config
from infrastructure.logging import FailureLog
from infrastructure.metrics import UNKNOWN_SENDS, UNREADABLE_ROWS_PASSED, WORKER_IN_FLIGHT

_log = structlog.get_logger("worker")

MAX_BACKOFF_SECONDS = 600
#: The smallest batch the worker splits its concurrency into (``pull_size``).
MIN_BATCH = 32
#: How long a stopping worker waits for a pull already sent (the pull's own timeout is 10 s).
PULL_GRACE_SECONDS = 15


#: How old a batch's plan read ahead may be when the batch starts; an older one is read again
#: (docs/sending.md, "The events of one pull go together").
PLAN_FRESH_SECONDS = 1.0

#: How often a worker logs again a row the unknown sends' recheck cannot read (it meets it on
#: every pass, about every 30 s, till a human mends it: docs/outages.md).
UNREADABLE_LOG_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class _Pulled:
    """The events of one pull to be handled, as the triage left them (and decoded them, when it
    could), and their plan read ahead while they waited for room (when it could be), with the
    loop's time it was read at."""

    events: list[ReceivedEvent]
    decoded: list[DecodedEvent] | None
    planned: Planned | None = None
    planned_at: float = 0.0  # the loop's time when the plan's read began
    # The shipments its events are about; and, when its plan was read ahead, the shipments of
    # the batches in flight then and how many batches had started by then (``_start``).
    # None: not known (not decoded), as if about every shipment.
    shipments: frozenset[int] | None = None
    busy_at_plan: tuple[frozenset[int] | None, ...] = ()
    started_at_plan: int = 0


class Worker:
    def __init__(
        self,
        container: AsyncContainer,
        source: EventSource,
        *,
        concurrency: int = 32,
        batch_size: int = 100,
        recheck_every: float = 30.0,
    ) -> None:
        self._container = container
        self._source = source
        self._concurrency = concurrency
        self._batch_size = batch_size
        self._recheck_every = recheck_every
        self._attempts: OrderedDict[str, int] = OrderedDict()
        self._acks: list[str] = []
        # An outage fails every event the same way: one line per kind every 30 s, with a count.
        self._failures = FailureLog(_log, expected=(UpstreamUnavailable,))
        self._unreadable = FailureLog(
            _log, interval=UNREADABLE_LOG_SECONDS, expected=(UnreadableRecord,)
        )
        self._busy = 0  # events handed to batches not yet done
        self.handled = 0
        # For plans read ahead (``_start``): batches started so far, the shipments of those in
        # flight, and of those started in the last PLAN_FRESH_SECONDS (number, time, shipments).
        self._started = 0
        self._running: dict[int, frozenset[int] | None] = {}
        self._recent: deque[tuple[int, float, frozenset[int] | None]] = deque()

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set; then finishes (and acks) what is in flight.

        The next pull is on its way while batches are handled, or waits triaged and planned
        for room (``pull_size``, ``_plan``): a batch that ends makes room for events already
        here, not for a pull to start then. A pull's events start together once there is
        room for all (a pull is never split into smaller
        batches, each of which would cost a batch's transactions). Events pulled ahead and not
        started when the worker stops are handed back at once."""
        in_flight: set[asyncio.Task[None]] = set()
        ready: deque[_Pulled] = deque()  # pulled and triaged, not started: one pull each
        waiting = 0  # events in ``ready``
        pulling: asyncio.Task[_Pulled] | None = None
        stopped = asyncio.create_task(stop.wait())
        flusher = asyncio.create_task(self._flush_acks_forever())
        rechecker = asyncio.create_task(self._recheck_forever(stop))
        ahead = pull_size(self._concurrency, self._batch_size)
        try:
            while not stop.is_set():
                if pulling is None and waiting < ahead:
                    pulling = asyncio.create_task(self._pull(ahead - waiting, stop))
                if ready and self._concurrency - self._busy >= len(ready[0].events):
                    # The events of one pull are handled together (NotifyFailedDelivery.many);
                    # each counts against the concurrency until its batch is done.
                    number, pulled = self._start(ready.popleft())
                    waiting -= len(pulled.events)
                    self._busy += len(pulled.events)
                    task = asyncio.create_task(self._handle(number, pulled))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                    continue
                # A pull lands, a batch ends (room for what waits), or the worker is stopped.
                events_or_room: set[asyncio.Future[Any]] = {stopped, *in_flight}
                if pulling is not None:
                    events_or_room.add(pulling)
                await asyncio.wait(events_or_room, return_when=asyncio.FIRST_COMPLETED)
                if pulling is not None and pulling.done():
                    pulled, pulling = pulling.result(), None
                    if pulled.events:
                        ready.append(pulled)
                        waiting += len(pulled.events)
            if pulling is not None:  # it sees the stop: what it brings is handed back
                ready.append(await pulling)
            await self._hand_back(ready)
            if in_flight:
                await asyncio.wait(in_flight)
        finally:
            background: tuple[asyncio.Task[Any], ...] = (rechecker, flusher, stopped)
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._flush_acks()

    async def _pull(self, count: int, stop: asyncio.Event) -> _Pulled:
        """One pull of up to ``count`` events, triaged (``_triage``); nothing when the source
        failed, after a pause taken here, so that events already pulled start meanwhile."""
        try:
            batch = await self._receive(count, stop)
        except UpstreamUnavailable as exc:
            self._failures.failed("event source unavailable", exc)
            await _sleep_or_stop(stop, 2.0)
            return _Pulled([], None)
        events, decoded = await self._triage(batch)
        if not events or decoded is None or stop.is_set():
            return _Pulled(events, decoded, shipments=_shipments_of(decoded))
        return await self._plan_ahead(events, decoded)

    async def _plan_ahead(
        self, events: list[ReceivedEvent], decoded: list[DecodedEvent]
    ) -> _Pulled:
        """The pull with its plan read ahead, and what ``_start`` needs to tell whether another
        batch of this worker may have written to its shipments since the read began."""
        at = asyncio.get_running_loop().time()
        busy = tuple(self._running.values())
        started = self._started
        return _Pulled(
            events,
            decoded,
            await self._plan(decoded),
            at,
            _shipments_of(decoded),
            busy,
            started,
        )

    async def _plan(self, decoded: list[DecodedEvent]) -> Planned | None:
        """The pull's batch planned while it waits for room (``ShipmentEventIntake.plan``: a
        read, nothing written), so that its plan is off the time its events count against the
        concurrency; None when it could not be (the batch then plans when it starts)."""
        try:
            async with self._container() as request:
                intake = await request.get(ShipmentEventIntake)
                return await intake.plan(decoded)
        except Exception:  # the batch reads it again when it starts, and meets the problem
            return None

    async def _hand_back(self, ready: deque[_Pulled]) -> None:
        """Events pulled ahead and never started, back to the source for another delivery now
        (not after their ack deadline)."""
        ack_ids = [event.ack_id for pulled in ready for event in pulled.events]
        ready.clear()
        if ack_ids:
            try:
                await self._source.nack(ack_ids, 0)
            except UpstreamUnavailable as exc:
                self._failures.failed("nack failed; the ack deadline will redeliver", exc)

    async def _triage(
        self, batch: list[ReceivedEvent]
    ) -> tuple[list[ReceivedEvent], list[DecodedEvent] | None]:
        """Acknowledges at once what needs no handling; the rest, to be handled one by one
        (and the rest as the triage decoded it, when it could)."""
        if not batch:
            return batch, None
        try:
            async with self._container() as request:
                triage = await request.get(ShipmentEventTriage)
                skip, decoded = await triage.sort([event.data for event in batch])
        except Exception as exc:  # the database: each event finds out on its own
            self._failures.failed("batch not triaged", exc)
            return batch, None
        rest: list[ReceivedEvent] = []
        rest_decoded: list[DecodedEvent] = []
        for event, ignorable, read in zip(batch, skip, decoded, strict=True):
            if ignorable:
                self._acks.append(event.ack_id)
                self.handled += 1
            else:
                rest.append(event)
                rest_decoded.append(read)
        return rest, rest_decoded

    async def _receive(self, count: int, stop: asyncio.Event) -> list[ReceivedEvent]:
        receive = asyncio.create_task(self._source.receive(count))
        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({receive, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if receive in done:
            return receive.result()
        # Stopping while a pull is on its way: the events it brings would be stranded until
        # their ack deadline if the pull were cut off. Let it land and hand them straight back.
        try:
            batch = await asyncio.wait_for(receive, PULL_GRACE_SECONDS)
        except (TimeoutError, UpstreamUnavailable):
            return []
        if batch:
            with contextlib.suppress(UpstreamUnavailable):
                await self._source.nack([event.ack_id for event in batch], 0)
        return []

    def _start(self, pulled: _Pulled) -> tuple[int, _Pulled]:
        """The batch about to start, numbered and counted in flight; its plan read ahead is
        dropped (read again when it starts) when it is older than PLAN_FRESH_SECONDS, or when a
        batch of this worker that was in flight when the read began, or started since, is
        about one of its shipments: that batch may have written a newer or older attempt the
        plan did not see, which no unique key would catch (docs/sending.md, "The events of one
        pull go together")."""
        now = asyncio.get_running_loop().time()
        while self._recent and self._recent[0][1] < now - PLAN_FRESH_SECONDS:
            self._recent.popleft()  # no plan still fresh began before it started
        if pulled.planned is not None:
            since = (shipments for n, _, shipments in self._recent if n > pulled.started_at_plan)
            mine = pulled.shipments
            if now - pulled.planned_at > PLAN_FRESH_SECONDS or any(
                theirs is None or mine is None or not theirs.isdisjoint(mine)
                for theirs in (*pulled.busy_at_plan, *since)
            ):
                pulled = replace(pulled, planned=None)
        self._started += 1
        self._running[self._started] = pulled.shipments
        self._recent.append((self._started, now, pulled.shipments))
        return self._started, pulled

    async def _handle(self, number: int, pulled: _Pulled) -> None:
        count = len(pulled.events)
        WORKER_IN_FLIGHT.inc(count)
        try:
            await self._handle_batch(pulled)
        finally:
            WORKER_IN_FLIGHT.dec(count)
            self._busy -= count
            del self._running[number]

    async def _handle_batch(self, pulled: _Pulled) -> None:
        events = pulled.events
        planned = pulled.planned
        results: list[IntakeResult | Exception]
        try:
            async with self._container() as request:
                intake = await request.get(ShipmentEventIntake)
                data = [(event.data, event.message_id) for event in events]
                results = await intake.many(data, pulled.decoded, planned)
        except Exception as exc:  # the container itself: every event finds out alike
            results = [exc] * len(events)
        for event, result in zip(events, results, strict=True):
            await self._settle(event, result)

    async def _settle(self, event: ReceivedEvent, result: IntakeResult | Exception) -> None:
        """Acknowledges a handled event; hands back the rest for redelivery, with backoff."""
        if isinstance(result, Exception):  # the database or a collaborator failed
            self._failures.failed("event not handled, will retry", result)
            disposition, delay = Disposition.RETRY, None
        else:
            disposition, delay = result.disposition, result.retry_after
        if disposition is Disposition.ACK:
            self._attempts.pop(event.message_id, None)
            self._acks.append(event.ack_id)
            self.handled += 1
            return
        attempt = self._attempts.get(event.message_id, 0) + 1
        self._attempts[event.message_id] = attempt
        while len(self._attempts) > 100_000:
            self._attempts.popitem(last=False)
        backoff = delay if delay is not None else min(MAX_BACKOFF_SECONDS, 5 * 2 ** (attempt - 1))
        try:
            await self._source.nack([event.ack_id], backoff)
        except UpstreamUnavailable as exc:
            self._failures.failed("nack failed; the ack deadline will redeliver", exc)

    async def _recheck_forever(self, stop: asyncio.Event) -> None:
        """Looks at unknown sends that are due (the due work is in the database, claimed
        row by row: nothing is lost when this process stops) and measures them."""
        while not stop.is_set():
            await self.recheck_unknown_sends()
            await _sleep_or_stop(stop, self._recheck_every)

    async def recheck_unknown_sends(self) -> None:
        try:
            async with self._container() as request:
                recheck = await request.get(RecheckUnknownSends)
                rechecked = await recheck()
                self._tell_unreadable(rechecked.unreadable)
                for age, count in (await recheck.count_by_age()).items():
                    UNKNOWN_SENDS.labels(age=age).set(count)
        except Exception as exc:  # the database is down: the next pass tries again
            self._failures.failed("unknown sends not looked at", exc)

    def _tell_unreadable(self, unreadable: tuple[UnreadableRecord, ...]) -> None:
        """A row that cannot be read is met on every pass till a human mends it: counted
        each time, logged once an hour per row (docs/outages.md, "A row with a zero date")."""
        for exc in unreadable:
            UNREADABLE_ROWS_PASSED.inc()
            self._unreadable.failed(
                "unknown send not looked at: a row cannot be read", exc, apart=str(exc)
            )

    async def _flush_acks_forever(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            await self._flush_acks()

    async def _flush_acks(self) -> None:
        if not self._acks:
            return
        batch, self._acks = self._acks, []
        try:
            await self._source.ack(batch)
        except UpstreamUnavailable as exc:
            # Unacked events come back; the recorded outcome makes them no-ops.
            self._failures.failed("ack failed", exc, count=len(batch))


def _shipments_of(decoded: list[DecodedEvent] | None) -> frozenset[int] | None:
    if decoded is None:
        return None
    return frozenset(
        event.shipment_id for event in decoded if isinstance(event, (FailedDelivery, ShipmentEvent))
    )


def pull_size(concurrency: int, batch_size: int) -> int:
    """How many events a pull asks for: half the concurrency, so that two pulls' batches are
    handled at once while a third waits; but no batch smaller than ``MIN_BATCH`` for that
    (each batch costs its transactions: a lower concurrency runs one batch while the next
    waits), and none above ``batch_size``."""
    if concurrency < 2 * MIN_BATCH:
        return min(batch_size, concurrency)
    return min(batch_size, -(-concurrency // 2))


def recheck_interval(config: Config) -> float:
    """How often a worker looks for due unknown sends: often enough that one is looked at
    soon after ``WA_UNKNOWN_SEND_RECHECK_SECONDS``, never more than every 30 s."""
    return min(30.0, config.unknown_send_recheck_seconds / 2)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def run_worker(config: Config, containers: Callable[[], AsyncContainer]) -> int:
    """The worker process; ``containers`` makes its container (the composition root's)."""
    if not (config.pubsub_project and config.pubsub_fdr_subscription):
        print(
            "configuration error: WA_PUBSUB_FDR_SUBSCRIPTION (with WA_PUBSUB_PROJECT) is "
            "required for the worker",
            file=sys.stderr,
        )
        return 2
    return run_with_metrics(
        "worker",
        config.worker_metrics_port,
        lambda: _main(config, containers),
        required=config.worker_metrics_port_required,
        variable="WA_WORKER_METRICS_PORT",
        label=config.meta_label(),
    )


async def _main(config: Config, containers: Callable[[], AsyncContainer]) -> int:
    container = containers()
    stop = stop_on_signals()
    async with contextlib.AsyncExitStack() as resources:
        resources.push_async_callback(container.close)
        every = recheck_interval(config)
        source = await container.get(EventSource)
        workers = [
            Worker(container, source, concurrency=config.worker_concurrency, recheck_every=every)
        ]
        if config.pubsub_outcome_subscription:
            # The shipment events for the outcomes come on a subscription of their own: the
            # same intake handles them, with its own pulls and concurrency.
            outcome_source = await container.get(OutcomeEventSource)
            workers.append(
                Worker(
                    container,
                    outcome_source,
                    concurrency=config.worker_concurrency,
                    recheck_every=every,
                )
            )
        scheduler = SchedulerLoop(container, poll_seconds=config.scheduler_poll_seconds)
        _log.info(
            "worker started",
            subscription=config.pubsub_fdr_subscription,
            outcome_subscription=config.pubsub_outcome_subscription,
            metrics_port=config.worker_metrics_port,
        )
        # Work due later (reminders, default actions) runs beside the events, in every
        # worker: the rows are claimed with SKIP LOCKED, so the workers share them.
        await asyncio.gather(*(worker.run(stop) for worker in workers), scheduler.run(stop))
        _log.info(
            "worker stopped",
            handled=sum(worker.handled for worker in workers),
            jobs_done=scheduler.done,
        )
    return 0
