"""A row with a zero date ('0000-00-00 00:00:00'), which MariaDB keeps when the writer's
sql_mode allows it (another system, an old mode): the status pass and the worker's batch
meet it for that row's item alone, with a reason that says what is wrong, and go on with the
others (docs/outages.md, "A row with a zero date"). On MariaDB, the rows spoiled with
``SET SESSION sql_mode=''``. The unknown sends' recheck, which a row of them with a zero date
stopped for all, leaves that one alone."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from application.use_cases.notify_failed_delivery import Notified
from domain.activity import Outcome
from domain.errors import SendOutcomeUnknown, UnreadableRecord
from domain.failed_delivery import FailedDelivery
from domain.messages import OutgoingMessage
from tests.integration.test_ndr_conversation import start
from tests.integration.test_send_path import World
from tests.integration.test_send_path import mariadb_world as mariadb_world_fixture
from tests.support.app import AppClient
from tests.support.meta_webhooks import signed, status, statuses_body
from tests.support.portal import SECRET, api, bearer
from tests.support.stack import APP_SECRET, Stack, stack_fixture

stack = stack_fixture(auth_jwt_secret=SECRET)
mariadb_world = mariadb_world_fixture


@pytest.fixture(autouse=True)
async def _mended_after(mysql_engine: AsyncEngine) -> AsyncIterator[None]:
    """The rows a test spoils are mended after it: the other tests of this process share the
    database, and one that reads such a row (the portal's API checked against its schema) would
    meet a 500 of this test's making."""
    yield
    async with mysql_engine.connect() as conn:
        await conn.execute(text("SET SESSION sql_mode=''"))
        for table, column in _SPOILED:
            await conn.execute(
                text(
                    f"UPDATE {table} SET {column} = UTC_TIMESTAMP(6)"  # noqa: S608
                    f" WHERE {column} = '0000-00-00 00:00:00'"
                )
            )
        await conn.commit()


#: The columns these tests set to a zero date.
_SPOILED = (
    ("wa_conversations", "created_at"),
    ("wa_outgoing_messages", "created_at"),
    ("wa_outgoing_messages", "updated_at"),
)


async def _zero(engine: AsyncEngine, table: str, row_id: int) -> None:
    """What another writer with a lax sql_mode may leave: the row's created_at zero."""
    async with engine.connect() as conn:
        await conn.execute(text("SET SESSION sql_mode=''"))
        await conn.execute(
            text(f"UPDATE {table} SET created_at = '0000-00-00 00:00:00' WHERE id = :id"),  # noqa: S608
            {"id": row_id},
        )
        await conn.commit()


@pytest.mark.parametrize("table", ["wa_outgoing_messages", "wa_conversations"])
async def test_a_zero_date_in_a_status_pass_is_that_status_s_problem_alone(
    stack: Stack, client: AppClient, table: str
) -> None:
    spoiled = await start(stack, client, "customer_unavailable")
    fine = await start(stack, client, "customer_unavailable")
    [message] = await stack.rows("wa_outgoing_messages", message_id=spoiled.template.message_id)
    row_id = message["id"] if table == "wa_outgoing_messages" else message["conversation_id"]
    await _zero(stack.db, table, row_id)
    body = statuses_body(
        [status(spoiled.template.message_id, "delivered"), status(fine.template.message_id, "read")]
    )

    with structlog.testing.capture_logs() as logs:
        response = await client.post(
            "/webhooks/whatsapp", content=body, headers=signed(body, APP_SECRET)
        )
        assert response.status_code == 200
        await client.app.state.webhook_pump.drain()

    [other] = await stack.rows("wa_outgoing_messages", message_id=fine.template.message_id)
    assert other["status"] == "read"
    told = await stack.activity(fine.shipment_id)
    assert [e["outcome"] for e in told if e["kind"] == "status"] == ["read"]
    [inbox] = [r for r in await stack.rows("wa_webhook_inbox") if bytes(r["body"]) == body]
    [problem] = await stack.rows("wa_webhook_problems", inbox_id=inbox["id"])
    assert problem["element"] == "entry[0].changes[0].value.statuses[0]"
    assert problem["detail"].startswith("UnreadableRecord: ")
    assert "zero date" in problem["detail"]
    assert f"{table} row {row_id}: created_at" in problem["detail"]
    [alert] = [e for e in logs if e["event"] == "ALERT webhook elements not applied"]
    assert "zero date" in alert["error"]


async def test_a_zero_date_in_a_worker_batch_is_that_event_s_error_alone(
    mariadb_world: World, mysql_engine: AsyncEngine
) -> None:
    world = mariadb_world
    earlier = await world.fdr()
    await world.notify()(earlier)
    conversation, _ = await world.state(earlier)
    assert conversation.id is not None
    await _zero(mysql_engine, "wa_conversations", conversation.id)
    again = dataclasses.replace(earlier, status_log_id=earlier.status_log_id + 1)
    other = await world.fdr()

    results = await world.notify().many([again, other])

    assert isinstance(results[1], Notified)
    assert results[1].outcome is Outcome.SENT
    assert isinstance(results[0], Exception)
    assert "zero date" in str(results[0])


async def _timed_out(world: World) -> tuple[FailedDelivery, OutgoingMessage]:
    fdr = await world.fdr()
    world.meta.script.append(SendOutcomeUnknown(None, "read timeout"))
    assert (await world.notify()(fdr)).outcome is Outcome.UNKNOWN
    _, template = await world.state(fdr)
    return fdr, template


async def _zero_updated(engine: AsyncEngine, message_id: int) -> None:
    """A send whose created_at and updated_at are zero: it sorts before every real one."""
    async with engine.connect() as conn:
        await conn.execute(text("SET SESSION sql_mode=''"))
        await conn.execute(
            text(
                "UPDATE wa_outgoing_messages SET created_at = '0000-00-00 00:00:00',"
                " updated_at = '0000-00-00 00:00:00' WHERE id = :id"
            ),
            {"id": message_id},
        )
        await conn.commit()


@pytest.mark.parametrize("table", ["wa_outgoing_messages", "wa_conversations"])
async def test_a_zero_date_among_unknown_sends_leaves_the_others_to_be_looked_at(
    mariadb_world: World, mysql_engine: AsyncEngine, table: str
) -> None:
    # The recheck claims the oldest unknown sends first: a row with a zero date came first on
    # every pass, and its error stopped the pass for every other send.
    world = mariadb_world
    _, spoiled = await _timed_out(world)
    _, fine = await _timed_out(world)
    assert spoiled.id is not None
    row_id = spoiled.id if table == "wa_outgoing_messages" else spoiled.conversation_id
    await _zero(mysql_engine, table, row_id)
    world.clock.advance(world.options.unknown_recheck_seconds + 1)

    rechecked = await world.recheck()()

    assert len(world.meta.sends(fine)) == 1  # sent again once
    assert world.meta.sends(spoiled) == []  # left as it is, for a human
    [unreadable] = rechecked.unreadable  # told to the worker, which logs it
    assert str(unreadable).startswith(f"{table} row {row_id}: ")
    assert "zero date" in str(unreadable)


async def test_as_many_zero_dated_unknown_sends_as_a_pass_takes_do_not_stop_the_others(
    mariadb_world: World, mysql_engine: AsyncEngine
) -> None:
    # A zero updated_at sorts before every real one, so such rows are claimed first on every
    # pass: when a pass's worth of them (its limit) cannot be read, the others must still be
    # reached, or they are never looked at again.
    world = mariadb_world
    spoiled = [(await _timed_out(world))[1] for _ in range(2)]
    fine = [(await _timed_out(world))[1] for _ in range(3)]
    for message in spoiled:
        assert message.id is not None
        await _zero_updated(mysql_engine, message.id)
    world.clock.advance(world.options.unknown_recheck_seconds + 1)

    unreadable: list[UnreadableRecord] = []
    for _ in range(3):  # passes, each taking two
        unreadable += (await world.recheck()(limit=2)).unreadable

    assert [len(world.meta.sends(message)) for message in fine] == [1, 1, 1]  # again, once
    assert all(world.meta.sends(message) == [] for message in spoiled)
    told = {str(exc).split(":")[0] for exc in unreadable}
    assert told == {f"wa_outgoing_messages row {m.id}" for m in spoiled}


async def test_as_many_unknown_sends_of_unreadable_conversations_as_a_pass_takes_leave_the_others(
    mariadb_world: World, mysql_engine: AsyncEngine
) -> None:
    # A send whose conversation cannot be read is left as it is, so it stays the oldest: when
    # a pass's worth of them (its limit) came first on every pass, no other unknown send was
    # ever looked at again.
    world = mariadb_world
    spoiled = [(await _timed_out(world))[1] for _ in range(2)]
    _, fine = await _timed_out(world)
    for message in spoiled:
        await _zero(mysql_engine, "wa_conversations", message.conversation_id)
    world.clock.advance(world.options.unknown_recheck_seconds + 1)

    rechecked = await world.recheck()(limit=2)

    assert len(world.meta.sends(fine)) == 1  # looked at in the first pass: sent again
    assert all(world.meta.sends(message) == [] for message in spoiled)
    told = {str(exc).split(":")[0] for exc in rechecked.unreadable}
    assert told == {f"wa_conversations row {m.conversation_id}" for m in spoiled}


async def test_a_claim_past_a_zero_dated_send_takes_each_other_send_once(
    mariadb_world: World, mysql_engine: AsyncEngine
) -> None:
    world = mariadb_world
    [spoiled] = [(await _timed_out(world))[1] for _ in range(1)]
    fine = [(await _timed_out(world))[1] for _ in range(2)]
    assert spoiled.id is not None
    await _zero_updated(mysql_engine, spoiled.id)
    world.clock.advance(world.options.unknown_recheck_seconds + 1)
    older_than = world.clock.now() - timedelta(seconds=world.options.unknown_recheck_seconds)

    unreadable: list[UnreadableRecord] = []
    async with world.uow() as uow:
        claimed = await uow.messages.claim_unknown(older_than, 2, unreadable)
        await uow.rollback()

    assert sorted(m.id for m in claimed if m.id is not None) == sorted(
        m.id for m in fine if m.id is not None
    )
    assert len(unreadable) == 1


async def test_the_portal_tells_a_conversation_it_cannot_read_as_a_problem_of_its_own(
    stack: Stack, client: AppClient
) -> None:
    spoiled = await start(stack, client, "customer_unavailable")
    [message] = await stack.rows("wa_outgoing_messages", message_id=spoiled.template.message_id)
    conversation = message["conversation_id"]
    await _zero(stack.db, "wa_conversations", conversation)

    with structlog.testing.capture_logs() as logs:
        response = await client.get(
            api(spoiled.account_id, f"/conversations/{conversation}"),
            headers=bearer(spoiled.account_id),
        )

    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/problems/unreadable-record")
    assert "zero date" in problem["detail"]
    [logged] = [e for e in logs if e["event"] == "stored row cannot be read"]
    assert "zero date" in logged["error"]
    assert logged["path"].endswith(f"/conversations/{conversation}")  # where to look
