"""The monthly template cap holds where the conversations are recorded, not only where they
are planned (docs/cost.md, "The monthly cap"): on SQLite, a copy per test, with a scripted
WhatsApp. Two workers at once on MariaDB: tests/integration/test_monthly_cap.py."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from application.use_cases.notify_failed_delivery import event_key
from domain.activity import Outcome
from domain.failed_delivery import FailedDelivery
from tests.conftest import UowFactory, new_id
from tests.unit.test_notify_failed_delivery import World, make_world, seed_fdr

BUDGET = "budget: monthly cap of 2 templates reached"


def _events(account: int, count: int) -> list[FailedDelivery]:
    return [
        seed_fdr(account_id=account, shipment_id=new_id(), status_log_id=new_id())
        for _ in range(count)
    ]


async def _outcomes(world: World, events: list[FailedDelivery]) -> list[tuple[Outcome, str]]:
    """Each event's recorded outcome and detail, in the events' order."""
    found: list[tuple[Outcome, str]] = []
    async with world.uow() as uow:
        for fdr in events:
            record = await uow.fdr_events.get(event_key(fdr))
            assert record is not None
            found.append((record.outcome, record.detail or ""))
    return found


async def test_a_batch_planned_under_the_cap_records_no_more_than_the_cap_allows(
    new_uow: UowFactory,
) -> None:
    """The batch is planned while the workspace has room for both of its events; one more
    template is sent before its records are written (another worker's): one event is sent,
    the other is a budget skip, as the plan would have made it, told to the timeline."""
    world = make_world(new_uow)
    account = new_id()
    await world.enable(account, monthly_template_cap=2)
    batch, meanwhile = _events(account, 2), _events(account, 1)
    planned = await world.notify.plan(batch)
    assert planned is not None
    # Meanwhile one more template is recorded and sent (as another worker's would be).
    assert (await world.notify(meanwhile[0])).outcome is Outcome.SENT

    results = (await world.notify.batch(batch, planned)).results

    assert len(world.whatsapp.sent) == 2
    assert await _outcomes(world, batch) == [(Outcome.SENT, ""), (Outcome.SKIPPED, BUDGET)]
    assert [(r.outcome, r.detail) for r in results if not isinstance(r, Exception)] == [
        (Outcome.SENT, ""),
        (Outcome.SKIPPED, BUDGET),
    ]
    [skipped] = [e for e in world.activity.events if e.outcome is Outcome.SKIPPED]
    assert (skipped.shipment_id, skipped.detail) == (batch[1].shipment_id, BUDGET)
    async with world.uow() as uow:  # nothing recorded for the skipped event but its outcome
        assert await uow.conversations.for_shipments({batch[1].shipment_id}) == []

    again = await world.notify.many(batch)  # a redelivery sends nothing more

    assert [r.outcome for r in again if not isinstance(r, Exception)] == [
        Outcome.SENT,
        Outcome.SKIPPED,
    ]
    assert len(world.whatsapp.sent) == 2


async def test_a_cap_lowered_after_the_plan_holds_when_the_batch_is_recorded(
    new_uow: UowFactory,
) -> None:
    """The cap is read again, as committed, with the workspace's lock."""
    world = make_world(new_uow)
    account = new_id()
    await world.enable(account, monthly_template_cap=5)
    batch = _events(account, 3)
    planned = await world.notify.plan(batch)
    await world.enable(account, monthly_template_cap=2)

    await world.notify.batch(batch, planned)

    assert len(world.whatsapp.sent) == 2
    assert [o for o, _ in await _outcomes(world, batch)] == [
        Outcome.SENT,
        Outcome.SENT,
        Outcome.SKIPPED,
    ]


async def test_a_batch_of_a_workspace_without_a_cap_pays_nothing_for_it(
    new_uow: UowFactory, sqlite_db: AsyncEngine
) -> None:
    """Once planned, its records neither lock its settings (``lock_cap``) nor count its
    month, nor run anything else more: a capped workspace's same batch runs the same
    statements and those two only besides."""
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement.lower())

    def cap_reads(ran: list[str]) -> list[str]:
        lock = 'select poe_channel_settings."monthlytemplatecap"'
        return [s for s in ran if s.startswith(lock) or "count(" in s]

    world = make_world(new_uow)
    uncapped, capped = new_id(), new_id()
    await world.enable(uncapped)
    await world.enable(capped, monthly_template_cap=10)
    ran: dict[int, list[str]] = {}
    event.listen(sqlite_db.sync_engine, "before_cursor_execute", seen)
    try:
        for account in (uncapped, capped):
            batch = _events(account, 3)
            planned = await world.notify.plan(batch)
            statements.clear()
            await world.notify.batch(batch, planned)
            ran[account] = list(statements)
    finally:
        event.remove(sqlite_db.sync_engine, "before_cursor_execute", seen)
    assert len(cap_reads(ran[capped])) == 2  # the lock, the count
    assert cap_reads(ran[uncapped]) == []
    assert ran[uncapped] == [s for s in ran[capped] if s not in cap_reads(ran[capped])]
    assert len(world.whatsapp.sent) == 6


async def test_a_batch_of_two_workspaces_checks_the_capped_ones_cap_only(
    new_uow: UowFactory,
) -> None:
    """The batch mixes a capped workspace's events with an uncapped one's; the capped one's
    room shrinks after the plan (another worker's send): its event beyond the cap is the
    budget skip, wherever it stands in the batch, and the uncapped one's are all sent."""
    world = make_world(new_uow)
    capped, uncapped = new_id(), new_id()
    await world.enable(capped, monthly_template_cap=2)
    await world.enable(uncapped)
    mine, theirs = _events(capped, 2), _events(uncapped, 2)
    batch = [theirs[0], mine[0], theirs[1], mine[1]]
    planned = await world.notify.plan(batch)
    assert (await world.notify(_events(capped, 1)[0])).outcome is Outcome.SENT

    await world.notify.batch(batch, planned)

    assert await _outcomes(world, batch) == [
        (Outcome.SENT, ""),
        (Outcome.SENT, ""),
        (Outcome.SENT, ""),
        (Outcome.SKIPPED, BUDGET),
    ]
    assert len(world.whatsapp.sent) == 4
