"""Unknown sends looked at again by the running worker: MariaDB, the emulator, fake Meta."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from prometheus_client import REGISTRY, generate_latest

from tests.conftest import new_id
from tests.support.metrics import metric
from tests.support.stack import Stack, fdr_event, leave_no_unknown_send, running_stack


@pytest_asyncio.fixture(loop_scope="session")
async def stack(mysql_url: str, pubsub_emulator_host: str) -> AsyncIterator[Stack]:
    # Two seconds instead of ten minutes: the worker looks every second.
    async with running_stack(
        mysql_url, pubsub_emulator_host, unknown_send_recheck_seconds=2.0
    ) as running:
        # What earlier tests left unknown is not this test's: its worker would send it.
        await leave_no_unknown_send(running.db)
        yield running


async def test_a_timed_out_send_with_no_status_is_sent_again_once(stack: Stack) -> None:
    account = new_id()
    await stack.enable(account)
    stack.meta.delay_next(5.0)  # longer than the 2 s client timeout: the outcome is unknown
    event = fdr_event(account_id=account)
    data = event["response_data"]
    await stack.publish(event)
    stack.start_worker()

    async def sent_twice() -> bool:
        return len(_sends(stack, data["id"])) >= 2

    await stack.wait_for(sent_twice, seconds=60, what="the send repeated")
    first, second = _sends(stack, data["id"])
    assert first["biz_opaque_callback_data"] == second["biz_opaque_callback_data"]
    assert first["template"] == second["template"]

    async def recorded_sent() -> bool:
        outcome = await stack.fdr_outcome(data["id"], int(data["status_log_id"]))
        return outcome is not None and outcome["outcome"] == "sent"

    await stack.wait_for(recorded_sent, seconds=60, what="the outcome corrected to sent")
    [conversation] = await stack.rows("wa_conversations", shipment_id=data["id"])
    [message] = await stack.rows("wa_outgoing_messages", conversation_id=conversation["id"])
    assert message["status"] == "accepted"
    assert message["resent_at"] is not None
    assert conversation["root_message_id"] == message["message_id"]
    exposed = generate_latest(REGISTRY).decode()
    assert metric(exposed, 'fdr_unknown_sends{age="<10m"}') is not None


def _sends(stack: Stack, shipment_id: int) -> list[dict[str, object]]:
    tracking = f"/track/whatsapp/{shipment_id}"
    return [r.body for r in stack.meta.requests if tracking in str(r.body)]
