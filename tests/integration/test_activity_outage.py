"""The workspace's timeline (the activity topic) is down: shoppers are served all the same."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.conftest import new_id
from tests.support.services import unique_name
from tests.support.stack import Stack, fdr_event, running_stack


@pytest_asyncio.fixture(loop_scope="session")
async def stack(mysql_url: str, pubsub_emulator_host: str) -> AsyncIterator[Stack]:
    # A topic that was never created: every activity publish fails (404 from Pub/Sub).
    missing = unique_name("deleted-activity")
    async with running_stack(
        mysql_url, pubsub_emulator_host, pubsub_activity_topic=missing
    ) as running:
        running.start_worker()
        yield running


async def test_the_template_and_the_tracking_link_work_without_the_timeline(stack: Stack) -> None:
    account = new_id()
    await stack.enable(account)
    event = fdr_event("address_issue", account_id=account)
    shipment = event["response_data"]["id"]

    async def recorded() -> bool:
        return bool(await stack.rows("wa_fdr_events", account_id=account))

    await stack.publish(event)
    await stack.wait_for(recorded, seconds=60, what="the event's outcome")
    [outcome] = await stack.rows("wa_fdr_events", account_id=account)
    assert outcome["outcome"] == "sent"
    async with stack.http(run_pump=False) as client:
        response = await client.get(f"/track/whatsapp/{shipment}")
    assert response.status_code == 302
    assert len(await stack.rows("wa_link_clicks", shipment_id=shipment)) == 1
