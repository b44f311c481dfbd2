"""A silent shopper (docs/scheduler.md): one reminder after the workspace's delay, one
default action at the cut-off, also when a worker dies in between and when two workers run;
an answer before the reminder cancels both. MariaDB, the Pub/Sub emulator, the Meta and ESB
fakes; the scheduler's workers run on a clock the test moves."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from dishka import AsyncContainer, Provider, Scope, provide

from application.ports.clock import Clock
from application.use_cases.run_due_jobs import RunDueJobs
from application.use_cases.send_reminder import SendReminder
from composition.container import build_container
from domain.errors import UpstreamUnavailable
from domain.reasons import FdrReason
from domain.scheduling import DefaultAction
from infrastructure.db.repositories.opt_outs import SqlOptOutRepository
from infrastructure.db.uow import SqlUnitOfWork
from tests.conftest import new_id
from tests.fakes.meta import RecordedSend, send_schema_error
from tests.integration.test_ndr_conversation import SHOPPER, Thread, start
from tests.support.app import AppClient
from tests.support.doubles import FixedClock
from tests.support.meta_webhooks import text_message
from tests.support.portal import SECRET, api, bearer
from tests.support.stack import Stack, stack_fixture

REASON = "customer_unavailable"


class _ClockAt(Provider):
    def __init__(self, clock: FixedClock) -> None:
        super().__init__()
        self._clock = clock

    @provide(scope=Scope.APP)
    def clock(self) -> Clock:
        return self._clock


stack = stack_fixture(auth_jwt_secret=SECRET)


class SchedulerWorker:
    """A worker process's scheduler: a container of its own on the test's clock."""

    def __init__(self, stack: Stack, clock: FixedClock) -> None:
        self.container: AsyncContainer = build_container(stack.config, _ClockAt(clock))

    async def run_due(self) -> None:
        while True:
            async with self.container() as request:
                ran = await (await request.get(RunDueJobs))(limit=100)
            if ran.claimed < 100:
                return

    async def close(self) -> None:
        await self.container.close()


async def silent_conversation(stack: Stack, client: AppClient) -> Thread:
    """A first template sent for a workspace whose silent shoppers get a reattempt."""
    account = new_id()
    await stack.enable(account, default_actions={FdrReason(REASON): DefaultAction.REATTEMPT})
    thread = await start(stack, client, REASON, account=account)

    async def scheduled() -> bool:  # with the send's recorded outcome, just after the send
        return len(await jobs(stack, thread)) == 2

    await stack.wait_for(scheduled, what="the reminder and the default action scheduled")
    return thread


async def jobs(stack: Stack, thread: Thread) -> dict[str, dict[str, Any]]:
    conversation = (await stack.rows("wa_conversations", shipment_id=thread.shipment_id))[0]
    rows = await stack.rows("wa_scheduled_jobs", conversation_id=conversation["id"])
    return {row["kind"]: row for row in rows}


def reminders(stack: Stack, thread: Thread) -> list[RecordedSend]:
    link = f"/track/whatsapp/{thread.shipment_id}"
    return [
        r
        for r in stack.meta.requests
        if r.body.get("type") == "template"
        and r.body["template"]["name"] == "fdr_reminder"
        and link in str(r.body)
    ]


def automatic_actions(stack: Stack, thread: Thread) -> list[Any]:
    return [a for a in thread.actions() if a.action == "reattempt"]


async def test_a_silent_shopper_gets_one_reminder_then_one_default_action(
    stack: Stack, client: AppClient
) -> None:
    thread = await silent_conversation(stack, client)
    due = await jobs(stack, thread)
    reminder_at, action_at = due["reminder"]["due_at"], due["default_action"]["due_at"]
    sent_at = thread_sent_at(due)
    assert reminder_at - sent_at == timedelta(hours=4)  # the default delay
    assert reminder_at < action_at
    clock = FixedClock(reminder_at - timedelta(seconds=1))
    first, second = SchedulerWorker(stack, clock), SchedulerWorker(stack, clock)
    try:
        await first.run_due()
        assert reminders(stack, thread) == []  # not due yet

        # The first worker dies after sending the reminder, before marking its job done.
        clock.advance(1)
        async with SqlUnitOfWork(stack.db) as uow:
            claimed = await uow.jobs.claim_due(clock.now(), RunDueJobs.lease, 10, {"reminder"})
            await uow.commit()
        mine = [j for j in claimed if j.conversation_id == due["reminder"]["conversation_id"]]
        async with first.container() as request:
            await (await request.get(SendReminder))(mine[0])
        await first.close()
        assert len(reminders(stack, thread)) == 1
        # Until the lease runs out nobody takes the job; then the second worker does, and
        # finds the reminder sent.
        await second.run_due()
        clock.advance(RunDueJobs.lease.total_seconds())
        await second.run_due()
        sent = reminders(stack, thread)
        assert len(sent) == 1
        assert send_schema_error(sent[0].body) is None
        assert sent[0].body["to"] == "+" + SHOPPER
        assert (await jobs(stack, thread))["reminder"]["state"] == "done"

        # At the cut-off, two workers at once: one automatic reattempt reaches the ESB.
        clock.current = action_at
        third = SchedulerWorker(stack, clock)
        await asyncio.gather(second.run_due(), third.run_due())
        await third.close()
        clock.advance(3600)
        await second.run_due()
    finally:
        await second.close()
    assert len(automatic_actions(stack, thread)) == 1
    stored = await stack.rows("wa_ndr_actions", shipment_id=thread.shipment_id)
    assert [(a["kind"], a["automatic"], a["state"]) for a in stored] == [
        ("reattempt", True, "done")
    ]
    events = await stack.activity(thread.shipment_id)
    assert [e["outcome"] for e in events if e["kind"] == "reminder"] == ["sent"]
    taken = [e for e in events if e["kind"] == "action"]
    assert [(e["outcome"], e["automatic"]) for e in taken] == [("action_taken", True)]
    assert len(reminders(stack, thread)) == 1  # nothing more was sent

    # The portal shows both in the conversation.
    conversation_id = due["reminder"]["conversation_id"]
    headers = bearer(thread.account_id)
    shown = await client.get(
        api(thread.account_id, f"/conversations/{conversation_id}"), headers=headers
    )
    assert shown.status_code == 200, shown.text
    items = shown.json()["thread"]
    messages = [i for i in items if i["type"] == "message"]
    assert [(m["kind"], m["reminder"]) for m in messages] == [
        ("template", False),
        ("template", True),
    ]
    assert [(a["action"], a["automatic"]) for a in items if a["type"] == "action"] == [
        ("reattempt", True)
    ]
    assert shown.json()["conversation"]["templateId"] == messages[0]["templateId"]

    # And counts them in the stats of the conversation's reason.
    created = datetime.fromisoformat(shown.json()["conversation"]["createdAt"])
    period = {
        "from": (created - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "to": (created + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    stats = await client.get(api(thread.account_id, "/stats"), headers=headers, params=period)
    assert stats.status_code == 200, stats.text
    total = stats.json()["total"]
    assert (total["reminded"], total["automaticActions"]) == (1, 1)


async def test_an_answer_before_the_reminder_cancels_reminder_and_default_action(
    stack: Stack, client: AppClient
) -> None:
    thread = await silent_conversation(stack, client)
    due = await jobs(stack, thread)
    assert set(due) == {"reminder", "default_action"}
    await thread.post(text_message(SHOPPER, "I will be home tomorrow"))
    due = await jobs(stack, thread)
    assert {k: row["state"] for k, row in due.items()} == {
        "reminder": "cancelled",
        "default_action": "cancelled",
    }
    clock = FixedClock(due["default_action"]["due_at"] + timedelta(hours=1))
    worker = SchedulerWorker(stack, clock)
    try:
        await worker.run_due()
    finally:
        await worker.close()
    assert reminders(stack, thread) == []
    assert automatic_actions(stack, thread) == []


async def test_a_reminder_meta_refuses_for_an_unreachable_number_signals_the_fallback(
    stack: Stack, client: AppClient
) -> None:
    """As a template refused at its send does (docs/opt-out.md)."""
    thread = await silent_conversation(stack, client)
    due = await jobs(stack, thread)
    stack.meta.fail_sends_to("+" + SHOPPER, 131026)
    worker = SchedulerWorker(stack, FixedClock(due["reminder"]["due_at"]))
    try:
        await worker.run_due()
    finally:
        await worker.close()
    assert len(reminders(stack, thread)) == 0  # refused: Meta took nothing
    events = await stack.activity(thread.shipment_id)
    assert [e["outcome"] for e in events if e["kind"] == "reminder"] == ["failed"]
    [signal] = [e for e in events if e["outcome"] == "whatsapp_unreachable"]
    assert (signal["detail"], signal["error"]["code"]) == ("undeliverable", 131026)
    assert signal["conversation_id"] == due["reminder"]["conversation_id"]


async def test_a_reminder_refused_whose_signal_could_not_be_written_signals_on_the_retry(
    stack: Stack, client: AppClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database lost between the reminder's refusal and its signal: the job is run
    again, and the signal is not lost (docs/opt-out.md, "Whichever message finds out")."""
    thread = await silent_conversation(stack, client)
    due = await jobs(stack, thread)
    stack.meta.fail_sends_to("+" + SHOPPER, 131026)
    add_signal = SqlOptOutRepository.add_signal
    lost: list[bool] = []

    async def once_lost(self: SqlOptOutRepository, signal: Any) -> bool:
        if not lost:
            lost.append(True)
            raise UpstreamUnavailable("database connection lost")
        return await add_signal(self, signal)

    monkeypatch.setattr(SqlOptOutRepository, "add_signal", once_lost)
    clock = FixedClock(due["reminder"]["due_at"])
    worker = SchedulerWorker(stack, clock)
    try:
        await worker.run_due()
        assert lost  # the signal's transaction failed, the reminder's refusal was stored
        clock.advance(3600)  # the job's retry is due
        await worker.run_due()
    finally:
        await worker.close()
    assert len(reminders(stack, thread)) == 0
    signals = await stack.rows("wa_unreachable_signals", shipment_id=thread.shipment_id)
    assert [(s["why"], s["error_code"]) for s in signals] == [("undeliverable", 131026)]


def thread_sent_at(due: dict[str, dict[str, Any]]) -> datetime:
    created: datetime = due["reminder"]["created_at"]
    return created
