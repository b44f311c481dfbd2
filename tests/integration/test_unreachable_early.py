"""A ``failed`` status for a number WhatsApp cannot reach (131026) that reaches the status
pass before the worker has stored Meta's answer: stored unlinked, joined by the worker's
close (docs/sending.md, "Statuses ahead of Meta's answer"). On every path (template,
follow-up, reminder) it signals ``whatsapp_unreachable`` exactly once, as a refusal at the
send does (docs/opt-out.md, "Whichever message finds out"). The real use cases on a SQLite
database of the test's own, and one path on MariaDB."""

from __future__ import annotations

from datetime import timedelta

import pytest

from application.use_cases.record_delivery_reports import RecordDeliveryReports
from domain.activity import ActivityEvent, Outcome
from domain.scheduling import DEFAULT_LEASE, REMINDER
from domain.status import MessageStatus
from domain.webhook import StatusUpdate, follow_up_ref
from infrastructure.local.collaborators import InMemoryNdrActions
from tests.conftest import UowFactory
from tests.integration.test_answer_crashes import _answer
from tests.integration.test_send_path import World, _world
from tests.integration.test_send_path import mariadb_world as mariadb_world_fixture

UNDELIVERABLE = 131026


#: Whether the early status carries our ref (biz_opaque_callback_data).
NAMED = pytest.mark.parametrize("named", [False, True], ids=["wamid only", "with our ref"])


@pytest.fixture
def world(new_uow: UowFactory) -> World:
    return _world(new_uow)


mariadb_world = mariadb_world_fixture  # on the MariaDB the tests share


def _fails_early(world: World, refs: list[str], named: bool) -> None:
    """Meta takes the next send, and its ``failed`` status reaches the pass before the worker
    sees Meta's answer: with our ref as callback data (``named``: the pass moves the message
    and signals itself), or naming the wamid only (stored unlinked, joined by the worker)."""

    async def accepted(wamid: str, client_ref: str) -> None:
        refs.append(client_ref)
        reports = RecordDeliveryReports(world.uow(), world.activity, world.clock)
        update = StatusUpdate(
            message_id=wamid,
            status=MessageStatus.FAILED,
            timestamp=world.clock.now(),
            error_code=UNDELIVERABLE,
            error_title="Message undeliverable",
            client_ref=client_ref if named else None,
        )
        await reports([update])
        world.meta.when_accepted = None

    world.meta.when_accepted = accepted


def _signals(world: World, conversation_id: int) -> list[ActivityEvent]:
    return [
        e
        for e in world.activity.events
        if e.outcome is Outcome.WHATSAPP_UNREACHABLE and e.conversation_id == conversation_id
    ]


async def _stored_failed(world: World, client_ref: str) -> None:
    async with world.uow() as uow:
        message = await uow.messages.get_by_client_ref(client_ref)
    assert message is not None
    assert (message.status, message.error_code) == (MessageStatus.FAILED, UNDELIVERABLE)


@NAMED
async def test_a_templates_early_failure_signals_once(world: World, named: bool) -> None:
    refs: list[str] = []
    _fails_early(world, refs, named)
    fdr = await world.fdr()
    await world.notify()(fdr)
    conversation, _ = await world.state(fdr)
    assert conversation.id is not None
    await _stored_failed(world, refs[0])
    [signal] = _signals(world, conversation.id)
    assert (signal.detail, signal.error_code) == ("undeliverable", UNDELIVERABLE)


@NAMED
async def test_a_follow_ups_early_failure_signals_once(world: World, named: bool) -> None:
    # The follow-up used to look only at Meta's synchronous answer (accepted), so the
    # failure joined by its close was told on the timeline but never signalled.
    await _follow_up_fails_early(world, named)


async def test_a_follow_ups_early_failure_signals_once_on_mariadb(mariadb_world: World) -> None:
    await _follow_up_fails_early(mariadb_world, named=False)


async def _follow_up_fails_early(world: World, named: bool) -> None:
    answer = await _answer(world, InMemoryNdrActions())
    refs: list[str] = []
    _fails_early(world, refs, named)
    await answer.handle(answer.tap)
    assert refs == [follow_up_ref(answer.tap.message_id)]
    await _stored_failed(world, refs[0])
    [signal] = _signals(world, answer.conversation_id)
    assert (signal.detail, signal.error_code) == ("undeliverable", UNDELIVERABLE)


@NAMED
async def test_a_reminders_early_failure_signals_once(world: World, named: bool) -> None:
    fdr = await world.fdr()
    await world.notify()(fdr)
    conversation, _ = await world.state(fdr)
    assert conversation.id is not None
    async with world.uow() as uow:
        jobs = await uow.jobs.claim_due(
            world.clock.now() + timedelta(days=2), DEFAULT_LEASE, 500, {REMINDER}
        )
        await uow.commit()
    [job] = [j for j in jobs if j.conversation_id == conversation.id]
    world.clock.advance(3600)  # 17:00 in India: outside quiet hours
    reminder = world.reminder()
    refs: list[str] = []
    _fails_early(world, refs, named)
    await reminder(job)
    assert len(refs) == 1
    await _stored_failed(world, refs[0])
    [signal] = _signals(world, conversation.id)
    assert (signal.detail, signal.error_code) == ("undeliverable", UNDELIVERABLE)
