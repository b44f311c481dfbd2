"""Processing stored webhook bodies: big passes in bounded transactions (SQLite, one per test)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, nullcontext
from datetime import timedelta
from typing import Any, Self, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from application.follow_ups import FollowUpSender
from application.ports.collaborators import ActivityPublisher
from application.ports.whatsapp import TemplateCatalog
from application.sending import SendStep
from application.services import NotificationOptions, SenderResolver
from application.timeline import Timeline
from application.use_cases.handle_customer_reply import HandleCustomerReply, ReplyHandled
from application.use_cases.measure_webhook_backlog import (
    MeasureWebhookBacklog,
    WebhookBacklog,
)
from application.use_cases.process_webhooks import STATUSES_PER_TRANSACTION, ProcessWebhooks
from application.use_cases.record_delivery_reports import RecordDeliveryReports
from application.use_cases.record_template_status import RecordTemplateStatus
from domain.activity import ActivityEvent, Outcome
from domain.conversation import Conversation
from domain.errors import UpstreamUnavailable
from domain.messages import MessageKind, OutgoingMessage
from domain.reasons import FdrReason
from domain.records import WebhookDelivery
from domain.status import MessageStatus
from domain.templates import WaTemplate
from domain.webhook import InboundMessage, ParsedWebhook, StatusUpdate
from infrastructure.db.uow import SqlUnitOfWork
from infrastructure.local.activity import RecordingActivityPublisher
from infrastructure.local.collaborators import InMemoryNdrActions
from infrastructure.meta.sandbox import SandboxTemplateCatalog
from infrastructure.meta.webhook import MetaWebhookFormat
from infrastructure.meta.webhook_builder import (
    status,
    statuses_body,
    template_status,
    text_message,
)
from tests.conftest import UowFactory
from tests.support.doubles import (
    DEFAULT_SENDER,
    FixedClock,
    NoLimit,
    ScriptedWhatsApp,
    StaticDirectory,
)
from tests.support.factories import T0

#: 600 ticks: more than one transaction holds (STATUSES_PER_TRANSACTION, 500).
MESSAGES = 200
#: Ticks to a body: a message's three ticks land in different bodies of the pass.
PER_BODY = 250


class CountingReports(RecordDeliveryReports):
    """The real use case, noting how many statuses each call (one transaction) was given."""

    calls: list[int]

    async def __call__(
        self, updates: Sequence[StatusUpdate], timeline: Timeline | None = None
    ) -> int:
        self.calls.append(len(updates))
        return await super().__call__(updates, timeline)


async def _sent_templates(new_uow: UowFactory, count: int = MESSAGES) -> list[str]:
    wamids = []
    async with new_uow() as uow:
        for n in range(count):
            conversation = await uow.conversations.add(
                Conversation(
                    account_id=5,
                    shipment_id=900_000 + n,
                    status_log_id=n,
                    reason=FdrReason.CUSTOMER_UNAVAILABLE,
                    customer_phone="919800000000",
                    sender_connection_id=0,
                    created_at=T0,
                    updated_at=T0,
                )
            )
            assert conversation is not None
            assert conversation.id is not None
            wamid = f"wamid.BIG{n:06d}"
            await uow.messages.add(
                OutgoingMessage(
                    conversation_id=conversation.id,
                    kind=MessageKind.TEMPLATE,
                    client_ref=f"big-{n}",
                    status_log_id=n,
                    sender_connection_id=0,
                    customer_phone="919800000000",
                    business_phone="15550783881",
                    message_id=wamid,
                    status=MessageStatus.ACCEPTED,
                    created_at=T0,
                    updated_at=T0,
                )
            )
            wamids.append(wamid)
        await uow.commit()
    return wamids


async def test_a_pass_of_big_bodies_keeps_each_message_s_ticks_in_one_transaction(
    new_uow: UowFactory,
) -> None:
    """Chunks are recorded at once by the lanes, each in a unit of work of its own."""
    wamids = await _sent_templates(new_uow)
    clock = FixedClock()
    activity = RecordingActivityPublisher()
    uow = new_uow()
    calls: list[int] = []

    @asynccontextmanager
    async def recorders() -> AsyncIterator[RecordDeliveryReports]:
        recorder = CountingReports(new_uow(), activity, clock)
        recorder.calls = calls
        yield recorder

    replies = HandleCustomerReply(
        uow,
        FollowUpSender(
            uow,
            SenderResolver(StaticDirectory(), DEFAULT_SENDER),
            SendStep(uow, ScriptedWhatsApp(), NoLimit(), clock),
            activity,
            clock,
        ),
        InMemoryNdrActions(),
        activity,
        clock,
        NotificationOptions(
            default_account_id=5,
            tracking_base_url="https://wa.example.com",
            support_phone="+91-9876543210",
            support_email="support@example.com",
        ),
        SenderResolver(StaticDirectory(), DEFAULT_SENDER),
    )
    process = ProcessWebhooks(
        uow,
        MetaWebhookFormat(),
        recorders,
        lambda: nullcontext(replies),
        RecordTemplateStatus(uow, SandboxTemplateCatalog(), clock),
        clock,
        activity,
    )
    # Meta's order is not ours: every read first, then the delivered ticks, then the sent
    # ones, spread over three bodies.
    await _store_ticks(new_uow, wamids, PER_BODY, ("read", "delivered", "sent"))

    assert 3 * MESSAGES > STATUSES_PER_TRANSACTION
    batch = await process(limit=10)

    assert batch.statuses == 3 * MESSAGES
    assert batch.processed == 3
    assert len(calls) >= 2
    assert max(calls) <= STATUSES_PER_TRANSACTION
    async with new_uow() as check:
        found = await check.messages.get_many_by_message_ids(wamids)
    assert {m.status for m in found.values()} == {MessageStatus.READ}
    # Each message's three ticks were ordered together, so each moved it once: three events.
    outcomes = [e.outcome for e in activity.events]
    assert outcomes.count(Outcome.SENT) == outcomes.count(Outcome.READ) == MESSAGES
    assert outcomes.count(Outcome.DELIVERED) == MESSAGES


class _Decoder(MetaWebhookFormat):
    """Meta's format, counting the bodies decoded so far."""

    decoded = 0

    def decode(self, body: bytes) -> ParsedWebhook:
        self.decoded += 1
        return super().decode(body)


class _Recorders:
    """A recorder per lane over the real use case: notes how many bodies were decoded (and
    how many publishes had begun) when each chunk began; with ``fail_first``, the first chunk
    meets a database that does not answer."""

    def __init__(
        self,
        new_uow: UowFactory,
        decoder: _Decoder,
        activity: ActivityPublisher,
        *,
        fail_first: bool = False,
    ) -> None:
        self.new_uow = new_uow
        self.decoder = decoder
        self.activity = activity
        self.fail_first = fail_first
        self.began: list[int] = []  # bodies decoded when each chunk began
        self.publishing: list[int] = []  # publishes begun when each chunk began
        self.failed: set[str] = set()  # the wamids of the chunk that failed

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[RecordDeliveryReports]:
        outer = self

        class Recorder(RecordDeliveryReports):
            async def __call__(
                self, updates: Sequence[StatusUpdate], timeline: Timeline | None = None
            ) -> int:
                await outer.chunk_begins(updates)
                return await super().__call__(updates, timeline)

        yield Recorder(self.new_uow(), self.activity, FixedClock())

    async def chunk_begins(self, updates: Sequence[StatusUpdate]) -> None:
        self.began.append(self.decoder.decoded)
        self.publishing.append(getattr(self.activity, "calls", 0))
        if self.fail_first and len(self.began) == 1:
            self.failed = {u.message_id for u in updates}
            raise UpstreamUnavailable("database: OperationalError")


def _status_pass(
    new_uow: UowFactory, decoder: _Decoder, recorders: _Recorders, activity: ActivityPublisher
) -> ProcessWebhooks:
    uow = new_uow()
    clock = FixedClock()
    return ProcessWebhooks(
        uow,
        decoder,
        recorders,
        lambda: nullcontext(cast(HandleCustomerReply, None)),
        RecordTemplateStatus(uow, SandboxTemplateCatalog(), clock),
        clock,
        activity,
    )


_RANKS = {"sent": 0, "delivered": 1, "read": 2}


async def _store_ticks(
    new_uow: UowFactory,
    wamids: list[str],
    per_body: int,
    order: tuple[str, ...] = ("sent", "delivered", "read"),
) -> None:
    """A tick of every message, then the next tick of every one ..., in ``order`` (each
    tick's time by its rank, whatever the order), ``per_body`` ticks a body."""
    ticks = [
        status(w, state, recipient="919800000000", timestamp=str(1_750_000_000 + _RANKS[state]))
        for state in order
        for w in wamids
    ]
    async with new_uow() as inbox:
        for start in range(0, len(ticks), per_body):
            body = statuses_body(ticks[start : start + per_body])
            await inbox.inbox.add(WebhookDelivery(connection_id=None, body=body, received_at=T0))
        await inbox.commit()


async def test_a_chunk_that_fails_while_later_bodies_are_decoded_holds_only_its_bodies(
    new_uow: UowFactory,
) -> None:
    """Lanes record while the pass still decodes; a chunk the database refuses for now makes
    its bodies wait, and only them; the other chunks, recorded before and after, are kept, and
    the bodies taken again apply what is missing, each message's ticks in order."""
    wamids = await _sent_templates(new_uow, 400)
    await _store_ticks(new_uow, wamids, per_body=200)  # 6 bodies, 1200 ticks
    decoder = _Decoder()
    activity = RecordingActivityPublisher()
    recorders = _Recorders(new_uow, decoder, activity, fail_first=True)
    process = _status_pass(new_uow, decoder, recorders, activity)

    batch = await process(limit=10)

    # The first chunks began before the last body was decoded (a lane holds a full chunk of
    # 500 once about 1000 ticks are decoded), and the pass went on after one failed.
    assert min(recorders.began) < 6
    assert len(recorders.began) > 2
    assert batch.taken == 6
    assert 0 < len(batch.waiting) < 6
    assert batch.processed == 6 - len(batch.waiting)
    async with new_uow() as check:
        found = await check.messages.get_many_by_message_ids(wamids)
    # A message of the failed chunk moved only with the ticks of its later chunks, if any.
    assert {m.status for w, m in found.items() if w not in recorders.failed} == {MessageStatus.READ}

    again = await process(limit=10, retry_early=True)

    assert again.taken == len(batch.waiting)
    assert again.waiting == []
    async with new_uow() as check:
        found = await check.messages.get_many_by_message_ids(wamids)
    assert {m.status for m in found.values()} == {MessageStatus.READ}
    # Every status stored once, whichever pass stored it.
    assert batch.statuses + again.statuses == 3 * 400


class _HeldPublisher(RecordingActivityPublisher):
    """Records the events of a publish only once released."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.release = asyncio.Event()

    async def publish_many(self, events: Sequence[ActivityEvent]) -> None:
        self.calls += 1
        await self.release.wait()
        await super().publish_many(events)


async def test_lanes_go_on_while_the_timeline_publishes_and_the_pass_waits_for_it(
    new_uow: UowFactory,
) -> None:
    """A chunk's events are published beside the next chunks' writes, not between them; the
    bodies are marked processed only once every publish has returned."""
    wamids = await _sent_templates(new_uow, 400)
    await _store_ticks(new_uow, wamids, per_body=200)
    decoder = _Decoder()
    activity = _HeldPublisher()
    recorders = _Recorders(new_uow, decoder, activity)
    process = _status_pass(new_uow, decoder, recorders, activity)

    running = asyncio.create_task(process(limit=10))
    # A lane holds more than one chunk (1200 ticks in two lanes): its next chunk begins
    # while the events of its first are being published.
    await _until(lambda: any(recorders.publishing) or running.done())

    assert not running.done()
    assert activity.events == []  # no publish has returned
    async with new_uow() as check:
        assert await check.inbox.pending(10) != []  # no body marked yet
    activity.release.set()
    batch = await asyncio.wait_for(running, 30)

    assert (batch.processed, batch.statuses) == (6, 1200)
    # One event per tick that moved its message, each published once.
    outcomes = [e.outcome for e in activity.events]
    assert len(outcomes) == len({(e.message_id, e.outcome) for e in activity.events})
    assert outcomes.count(Outcome.READ) == 400


class _BodiesArriveAfterTheClaim(SqlUnitOfWork):
    """The pass's own unit of work: once its first claim has committed, more bodies are
    stored (POSTs that arrive while the pass works)."""

    def __init__(self, engine: AsyncEngine, arrive: Callable[[], Awaitable[None]]) -> None:
        super().__init__(engine)
        self.arrive = arrive
        self.claims = 0
        self.claimed = False

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        claim = self.inbox.pending

        async def pending(*args: Any, **kwargs: Any) -> list[WebhookDelivery]:
            self.claims += 1
            self.claimed = True
            return await claim(*args, **kwargs)

        self.inbox.pending = pending  # type: ignore[method-assign]
        return self

    async def commit(self) -> None:
        await super().commit()
        if self.claimed and self.claims == 1:
            self.claimed = False
            await self.arrive()


@pytest.mark.parametrize(
    ("messages", "joined"), [(200, True), (2, False)], ids=["statuses waiting", "little left"]
)
async def test_bodies_that_arrive_while_a_pass_writes_join_it_while_its_lanes_are_busy(
    new_uow: UowFactory, sqlite_db: AsyncEngine, messages: int, joined: bool
) -> None:
    """A pass claims again once it has decoded what it took, while its lanes still have a
    chunk's worth of statuses waiting: the bodies stored meanwhile are recorded by the same
    lanes. A pass with little left ends as before; the next one takes them."""
    wamids = await _sent_templates(new_uow, 400)
    # Three bodies first, three more after the claim: 600 + 600 ticks, or 6 + 6.
    await _store_ticks(new_uow, wamids[:messages], per_body=messages)

    async def arrive() -> None:
        await _store_ticks(new_uow, wamids[200 : 200 + messages], per_body=messages)

    uow = _BodiesArriveAfterTheClaim(sqlite_db, arrive)
    clock = FixedClock()
    activity = RecordingActivityPublisher()
    process = ProcessWebhooks(
        uow,
        MetaWebhookFormat(),
        _Recorders(new_uow, _Decoder(), activity),
        lambda: nullcontext(cast(HandleCustomerReply, None)),
        RecordTemplateStatus(uow, SandboxTemplateCatalog(), clock),
        clock,
        activity,
    )

    batch = await process(limit=10)

    if joined:
        assert (batch.taken, batch.processed, batch.statuses) == (6, 6, 1200)
        assert batch.more_may_wait  # and the next pass finds nothing
    else:
        assert (batch.taken, batch.processed) == (3, 3)
        assert uow.claims == 1
        following = await process(limit=10)
        assert (following.taken, following.processed) == (3, 3)
    async with new_uow() as check:
        assert await check.inbox.pending(10) == []


async def _until(condition: Callable[[], bool], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


class _SlowAnswers:
    """Records answers in the order they are handled; each takes 0.2 s (a call to Meta)."""

    def __init__(self) -> None:
        self.handled: list[str] = []
        self.in_flight = 0
        self.most_at_once = 0

    async def __call__(
        self, message: InboundMessage, *, again: bool = False, **_: object
    ) -> ReplyHandled:
        self.in_flight += 1
        self.most_at_once = max(self.most_at_once, self.in_flight)
        await asyncio.sleep(0.2)
        self.handled.append(f"{message.from_phone}:{message.text}")
        self.in_flight -= 1
        return ReplyHandled(None)


async def test_answers_of_different_shoppers_run_side_by_side_each_in_order(
    new_uow: UowFactory,
) -> None:
    clock = FixedClock()
    answers = _SlowAnswers()

    @asynccontextmanager
    async def handlers() -> AsyncIterator[HandleCustomerReply]:
        yield cast(HandleCustomerReply, answers)

    uow = new_uow()
    activity = RecordingActivityPublisher()
    recorders = _Recorders(new_uow, _Decoder(), activity)
    templates = RecordTemplateStatus(uow, SandboxTemplateCatalog(), clock)
    process = ProcessWebhooks(
        uow, MetaWebhookFormat(), recorders, handlers, templates, clock, activity
    )
    async with new_uow() as inbox:
        for shopper in range(8):
            for n in (1, 2):
                body = text_message(f"91980000000{shopper}", f"answer {n}")
                await inbox.inbox.add(
                    WebhookDelivery(connection_id=None, body=body, received_at=clock.now())
                )
        await inbox.commit()

    started = time.perf_counter()
    batch = await process(limit=100)
    took = time.perf_counter() - started

    assert batch.replies == 16
    assert answers.most_at_once == 8
    # 16 answers of 0.2 s each, one at a time, could not take less than 3.2 s; eight shoppers at
    # once take about 0.4 s however busy the machine (the bound holds only what one at a time
    # cannot do).
    assert took < 16 * 0.2
    for shopper in range(8):
        mine = [a for a in answers.handled if a.startswith(f"91980000000{shopper}:")]
        assert mine == [f"91980000000{shopper}:answer 1", f"91980000000{shopper}:answer 2"]


class _RememberingCatalog(SandboxTemplateCatalog):
    """Notes which business accounts it was told to forget."""

    def __init__(self) -> None:
        super().__init__()
        self.forgotten: list[str] = []

    def invalidate(self, waba_id: str) -> None:
        self.forgotten.append(waba_id)


def _without_answers(new_uow: UowFactory, catalog: TemplateCatalog) -> ProcessWebhooks:
    """The pump's use case for bodies that hold no answers (statuses, template updates)."""
    clock = FixedClock()
    uow = new_uow()
    activity = RecordingActivityPublisher()
    return ProcessWebhooks(
        uow,
        MetaWebhookFormat(),
        _Recorders(new_uow, _Decoder(), activity),
        lambda: nullcontext(cast(HandleCustomerReply, None)),
        RecordTemplateStatus(uow, catalog, clock),
        clock,
        activity,
    )


async def test_a_paused_template_is_unverified_everywhere_and_its_list_forgotten(
    new_uow: UowFactory,
) -> None:
    catalog = _RememberingCatalog()
    process = _without_answers(new_uow, catalog)

    def verified(account_id: int, name: str, meta_id: str) -> WaTemplate:
        return WaTemplate(
            account_id=account_id,
            template_name=name,
            verified_at=T0,
            meta_template_id=meta_id,
            created_at=T0,
            updated_at=T0,
        )

    async with new_uow() as setup:
        mine = await setup.templates.add(verified(41, "a", "7001"))
        theirs = await setup.templates.add(verified(42, "a", "7001"))
        other = await setup.templates.add(verified(41, "b", "7002"))
        for body in (
            template_status(7002, "APPROVED", name="b", waba_id="waba-1"),
            template_status(7001, "PAUSED", name="a", waba_id="waba-1", pause_title="FIRST_PAUSE"),
        ):
            await setup.inbox.add(WebhookDelivery(connection_id=None, body=body, received_at=T0))
        await setup.commit()

    batch = await process(limit=10)

    assert batch.processed == 2
    assert batch.template_changes == 2
    assert catalog.forgotten == ["waba-1", "waba-1"]
    async with new_uow() as check:
        for template in (mine, theirs):
            assert template.id is not None
            after = await check.templates.get(template.id)
            assert after is not None
            assert not after.is_verified
            assert after.meta_template_id == "7001"  # a later status still finds it
        assert other.id is not None
        unchanged = await check.templates.get(other.id)
    assert unchanged is not None
    assert unchanged.is_verified


async def test_a_backlog_of_big_bodies_is_read_a_few_at_a_time(new_uow: UowFactory) -> None:
    process = _without_answers(new_uow, SandboxTemplateCatalog())
    bodies = [
        statuses_body(
            [status(f"wamid.B{n}.{i:04d}", "sent", recipient="919800000000") for i in range(400)]
        )
        for n in range(6)
    ]
    size = len(bodies[0])
    assert {len(b) for b in bodies} == {size}
    async with new_uow() as setup:
        for body in bodies:
            await setup.inbox.add(WebhookDelivery(connection_id=None, body=body, received_at=T0))
        await setup.commit()

    first = await process(limit=500, max_bytes=2 * size + 1)

    assert (first.taken, first.statuses, first.more_may_wait) == (2, 800, True)
    passes = [first]
    while passes[-1].more_may_wait:
        passes.append(await process(limit=500, max_bytes=2 * size + 1))
    assert [p.taken for p in passes] == [2, 2, 2, 0]
    assert sum(p.statuses for p in passes) == 2400


async def test_the_backlog_says_how_many_bodies_wait_and_since_when(new_uow: UowFactory) -> None:
    clock = FixedClock()
    measure = MeasureWebhookBacklog(new_uow(), clock)
    assert await measure() == WebhookBacklog(pending=0, oldest_seconds=0.0)
    async with new_uow() as uow:
        for age in (60, 10):
            await uow.inbox.add(
                WebhookDelivery(
                    connection_id=None, body=b"{}", received_at=T0 - timedelta(seconds=age)
                )
            )
        await uow.commit()

    assert await measure() == WebhookBacklog(pending=2, oldest_seconds=60.0)
    clock.advance(30)
    assert await measure() == WebhookBacklog(pending=2, oldest_seconds=90.0)


class _CancelTurnedError(_Recorders):
    """A lane's first chunk waits on a database that, cancelled, ends in another error (as a
    driver's failed rollback can); the pass is cancelled (shutdown) as that chunk begins."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting = asyncio.Event()
        self.the_pass: asyncio.Task[Any] | None = None

    async def chunk_begins(self, updates: Sequence[StatusUpdate]) -> None:
        self.began.append(self.decoder.decoded)
        if len(self.began) > 1:
            return
        self.waiting.set()
        assert self.the_pass is not None
        self.the_pass.cancel()  # shutdown, while the pass still decodes
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("rollback failed") from None


async def test_a_pass_cancelled_while_a_lane_writes_ends_even_if_the_write_ends_otherwise(
    new_uow: UowFactory,
) -> None:
    """Shutdown cancels a pass that outlasts its grace: the pass ends (cancelled, its bodies
    not marked) even when a lane's cancelled write comes out as another error."""
    wamids = await _sent_templates(new_uow, 400)
    await _store_ticks(new_uow, wamids, per_body=200)
    decoder = _Decoder()
    activity = RecordingActivityPublisher()
    recorders = _CancelTurnedError(new_uow, decoder, activity)
    process = _status_pass(new_uow, decoder, recorders, activity)

    running = recorders.the_pass = asyncio.create_task(process(limit=10))
    await asyncio.wait_for(recorders.waiting.wait(), 30)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, 30)
    async with new_uow() as check:
        assert (await check.inbox.backlog()).pending == 6  # nothing marked: taken again later
