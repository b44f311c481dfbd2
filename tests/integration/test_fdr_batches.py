"""The events of one pull are planned and written together; each ends as it would alone."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from application.ports.collaborators import EventSource, ReceivedEvent
from tests.conftest import new_id
from tests.support.stack import Stack, fdr_event, stack_fixture

stack = stack_fixture(worker=False)


class _Pulls:
    """The worker's source, counting what each pull brought and what was acknowledged."""

    def __init__(self, inner: EventSource) -> None:
        self._inner = inner
        self.pulls: list[int] = []
        self.acked: list[str] = []

    async def receive(self, max_messages: int) -> list[ReceivedEvent]:
        batch = await self._inner.receive(max_messages)
        if batch:
            self.pulls.append(len(batch))
        return batch

    async def ack(self, ack_ids: list[str]) -> None:
        self.acked.extend(ack_ids)
        await self._inner.ack(ack_ids)

    async def nack(self, ack_ids: list[str], delay_seconds: int = 0) -> None:
        await self._inner.nack(ack_ids, delay_seconds)


def _shipment_of(body: dict[str, Any]) -> int:
    for component in body["template"].get("components", []):
        if component["type"] == "body":
            link = component["parameters"][-1]["text"]
            return int(link.rsplit("/", 1)[1].split("?")[0])
    raise AssertionError("no tracking link in the send")


async def test_a_batch_with_a_duplicate_a_poison_event_and_a_meta_failure(stack: Stack) -> None:
    account = new_id()
    await stack.enable(account)
    events = [fdr_event(account_id=account) for _ in range(6)]
    superseded_shipment = new_id()
    newer = fdr_event(account_id=account, shipment_id=superseded_shipment, status_log_id=new_id())
    older = fdr_event(
        account_id=account,
        shipment_id=superseded_shipment,
        status_log_id=int(newer["response_data"]["status_log_id"]) - 1,
    )
    stack.meta.fail_next(131026, message="Message undeliverable")  # one send of the batch
    for event in events:
        await stack.publish(event)
    await stack.publish(events[0])  # the same event twice in the pull
    await stack.publish(b"not json at all {")  # a poison event among them
    await stack.publish(newer)
    await stack.publish(older)  # a later event of the same shipment, an older attempt
    sources: list[_Pulls] = []

    def counts(source: EventSource) -> EventSource:
        sources.append(_Pulls(source))
        return sources[0]

    stack.start_worker(counts)
    published = len(events) + 4

    async def all_acked() -> bool:
        return bool(sources) and len(sources[0].acked) >= published

    await stack.wait_for(all_acked, seconds=60, what="every event acknowledged")
    await asyncio.sleep(0.5)  # nothing more may be sent

    sent = Counter(_shipment_of(r.body) for r in stack.meta.requests)
    to_send = [e["response_data"]["id"] for e in [*events, newer]]
    # Every shipment reached Meta exactly once, the one Meta refused included.
    assert stack.meta.send_attempts == len(to_send)
    assert len(sent) == len(to_send) - 1
    assert set(sent) <= set(to_send)
    outcomes: Counter[str] = Counter()
    for event in [*events, newer]:
        data = event["response_data"]
        record = await stack.fdr_outcome(data["id"], int(data["status_log_id"]))
        assert record is not None
        outcomes[record["outcome"]] += 1
    assert outcomes == {"sent": len(to_send) - 1, "failed": 1}
    assert all(count == 1 for count in sent.values())
    data = older["response_data"]
    record = await stack.fdr_outcome(data["id"], int(data["status_log_id"]))
    assert record is not None
    assert (record["outcome"], record["skip_reason"]) == ("skipped", "superseded")
    assert "superseded" in record["detail"]
    [conversation] = await stack.rows("wa_conversations", shipment_id=superseded_shipment)
    assert conversation["shipment_status_log_id"] == int(newer["response_data"]["status_log_id"])
