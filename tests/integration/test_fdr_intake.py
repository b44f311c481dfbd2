"""FDR events through the emulator, the worker, MariaDB, Redis and the fake Graph API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio

from application.ports.collaborators import EventSource, ReceivedEvent
from infrastructure.db.seed_data import TEMPLATES_V1
from tests.conftest import new_id
from tests.fakes.meta import send_schema_error
from tests.support.stack import (
    PUBLIC_BASE_URL,
    UNSTORABLE,
    Stack,
    changed_event,
    fdr_event,
    running_stack,
    stack_fixture,
)

TEMPLATES = {t["reason"]: t for t in TEMPLATES_V1 if t["reason"] is not None}
ADDRESS = "Sadafal kunj, Arjun club road ward num 26, churu, RAJASTHAN - 331403"
COMMON = {
    "first_name": "Aman",
    "brand": "Scitron Shopify",
    "order_number": "4980116095129",
    "item_count": "1",
    "item_lines": "1 Advance Whey Protein with 20 Vitamins & Minerals",
    "customer_phone": "7891971009",
    "delivery_address": ADDRESS,
    "amount_due": "1889.10",
    "support_phone": "+91-9876543210",
    "support_email": "eshopbox@support.com",
}


stack = stack_fixture(worker=False)


def _template_of(body: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    template = body["template"]
    params: list[str] = []
    payloads: list[str] = []
    for component in template.get("components", []):
        if component["type"] == "body":
            params = [p["text"] for p in component["parameters"]]
        elif component["type"] == "button":
            payloads.append(component["parameters"][0]["payload"])
    return template["name"], params, payloads


async def test_each_reason_sends_its_template_once(stack: Stack) -> None:
    account = new_id()
    await stack.enable(account)
    events = {reason: fdr_event(reason, account_id=account) for reason in TEMPLATES}
    for event in events.values():
        await stack.publish(event)
    stack.start_worker()

    await stack.wait_for(lambda: _count(stack, len(events)), what="nine sends")
    await asyncio.sleep(0.3)  # nothing more may come

    assert len(stack.meta.requests) == len(events)
    by_shipment = {}
    for sent in stack.meta.requests:
        assert send_schema_error(sent.body) is None
        assert sent.phone_number_id == "106540352242922"
        assert sent.body["to"] == "+917891971009"
        assert sent.headers["Authorization"] == "Bearer EAAG-default-token"
        name, params, payloads = _template_of(sent.body)
        shipment = int(params[-1].rsplit("/", 1)[1].split("?")[0])
        by_shipment[shipment] = (name, params, payloads, sent.body["biz_opaque_callback_data"])
    for reason, event in events.items():
        shipment_id = event["response_data"]["id"]
        name, params, payloads, callback = by_shipment[shipment_id]
        template = TEMPLATES[reason]
        [conversation] = await stack.rows("wa_conversations", shipment_id=shipment_id)
        ref = conversation["reply_ref"]
        link = f"{PUBLIC_BASE_URL}/track/whatsapp/{shipment_id}?r={ref}"
        values = {**COMMON, "tracking_link": link}
        assert name == template["template_name"], reason
        assert params == [values[v] for v in template["variables"]], reason
        assert conversation["reason"] == reason
        assert len(ref) == 32
        assert payloads == [
            f"fdr:{conversation['id']}:{ref}:{b['id']}" for b in template["buttons"]
        ]
        [outgoing] = await stack.rows("wa_outgoing_messages", conversation_id=conversation["id"])
        assert outgoing["client_ref"] == callback
        assert outgoing["root_message_id"] is None
        assert outgoing["status"] == "accepted"
        assert outgoing["message_id"] == conversation["root_message_id"]
        assert outgoing["customer_phone"] == "917891971009"
        outcome = await stack.fdr_outcome(shipment_id, event["response_data"]["status_log_id"])
        assert outcome is not None
        assert outcome["outcome"] == "sent"


async def _count(stack: Stack, expected: int) -> bool:
    return len(stack.meta.requests) >= expected


async def test_the_same_event_published_twice_sends_once(stack: Stack) -> None:
    account = new_id()
    await stack.enable(account)
    event = fdr_event(account_id=account)
    await stack.publish(event)
    await stack.publish(event)
    stack.start_worker()
    data = event["response_data"]
    await stack.wait_for(
        lambda: _acked_both(stack, data["id"], data["status_log_id"]), what="outcome"
    )
    await asyncio.sleep(0.5)
    assert len(stack.meta.requests) == 1


async def _acked_both(stack: Stack, shipment_id: int, status_log_id: str) -> bool:
    return await stack.fdr_outcome(shipment_id, int(status_log_id)) is not None


async def test_two_workers_racing_for_one_event_send_once(stack: Stack) -> None:
    account = new_id()
    await stack.enable(account)
    stack.meta.delay_next(0.3)  # keep the first send in flight while the other worker looks
    events = [fdr_event(account_id=account) for _ in range(3)]
    for event in events:
        await stack.publish(event)
        await stack.publish(event)
    stack.start_worker()
    stack.start_worker()
    await stack.wait_for(lambda: _count(stack, 3), what="three sends")
    await asyncio.sleep(1.0)
    shipments = sorted(
        int(_template_of(r.body)[1][-1].rsplit("/", 1)[1].split("?")[0])
        for r in stack.meta.requests
    )
    assert shipments == sorted(e["response_data"]["id"] for e in events)


class _DiesBeforeAck:
    """A worker's event source whose process dies after the send, before the ack reaches
    Pub/Sub: the ack is lost and Pub/Sub delivers the event again."""

    def __init__(self, inner: EventSource) -> None:
        self._inner = inner
        self.lost: list[str] = []

    async def receive(self, max_messages: int) -> list[ReceivedEvent]:
        return await self._inner.receive(max_messages)

    async def ack(self, ack_ids: list[str]) -> None:
        self.lost.extend(ack_ids)
        await self._inner.nack(ack_ids, 0)  # as if the ack deadline ran out

    async def nack(self, ack_ids: list[str], delay_seconds: int = 0) -> None:
        await self._inner.nack(ack_ids, delay_seconds)


async def test_redelivery_after_a_crash_between_send_and_ack_sends_once(stack: Stack) -> None:
    account = new_id()
    await stack.enable(account)
    event = fdr_event(account_id=account)
    crashed: list[_DiesBeforeAck] = []

    def dies(source: EventSource) -> EventSource:
        crashed.append(_DiesBeforeAck(source))
        return crashed[0]

    stop = stack.start_worker(dies)
    await stack.publish(event)
    await stack.wait_for(lambda: _lost_one(crashed), what="the lost ack")
    stop.set()
    survivors: list[_Acks] = []

    def counts(source: EventSource) -> EventSource:
        survivors.append(_Acks(source))
        return survivors[0]

    stack.start_worker(counts)  # the next process gets the event again
    await stack.wait_for(lambda: _acked(survivors), what="the redelivery handled and acked")
    assert len(stack.meta.requests) == 1


class _Acks:
    def __init__(self, inner: EventSource) -> None:
        self._inner = inner
        self.acked: list[str] = []
        self.received: list[ReceivedEvent] = []

    async def receive(self, max_messages: int) -> list[ReceivedEvent]:
        batch = await self._inner.receive(max_messages)
        self.received.extend(batch)
        return batch

    async def ack(self, ack_ids: list[str]) -> None:
        self.acked.extend(ack_ids)
        await self._inner.ack(ack_ids)

    async def nack(self, ack_ids: list[str], delay_seconds: int = 0) -> None:
        await self._inner.nack(ack_ids, delay_seconds)


async def _acked(survivors: list[_Acks]) -> bool:
    return bool(survivors and survivors[0].acked)


async def _lost_one(crashed: list[_DiesBeforeAck]) -> bool:
    return bool(crashed and crashed[0].lost)


@pytest.mark.parametrize(
    ("case", "expected_detail"),
    [
        ("disabled", "whatsapp_disabled"),
        ("unknown_reason", "unknown_reason"),
        ("bad_phone", "bad_phone"),
    ],
)
async def test_events_that_cannot_be_sent_are_recorded_and_acked(
    stack: Stack, case: str, expected_detail: str
) -> None:
    account = new_id()
    if case != "disabled":
        await stack.enable(account)
    event = {
        "disabled": fdr_event(account_id=account),
        "unknown_reason": fdr_event("misrouted to another hub", account_id=account),
        "bad_phone": fdr_event(account_id=account, phone="12345"),
    }[case]
    await stack.publish(event)
    stack.start_worker()
    data = event["response_data"]
    await stack.wait_for(
        lambda: _acked_both(stack, data["id"], data["status_log_id"]), what="recorded outcome"
    )
    outcome = await stack.fdr_outcome(data["id"], int(data["status_log_id"]))
    assert outcome is not None
    assert outcome["outcome"] == "skipped"
    assert expected_detail in outcome["detail"]
    assert "12345" not in outcome["detail"]
    # The worker is still running and takes the next event.
    follow = fdr_event(account_id=account)
    await stack.enable(account)
    await stack.publish(follow)
    await stack.wait_for(lambda: _count(stack, 1), what="the next event")
    assert stack.meta.requests[0].body["to"] == "+917891971009"


async def test_a_malformed_event_is_recorded_acked_and_never_redelivered(stack: Stack) -> None:
    # The database is the session's: count what this test adds (pushes may have added some).
    before = len(await _poison(stack))
    await stack.publish(b"this is not json {")
    await stack.publish(b"[1, 2, 3]")
    stack.start_worker()
    await stack.wait_for(lambda: _poison_count(stack, before + 2), what="two poison records")
    await asyncio.sleep(1.0)
    assert len(await _poison(stack)) == before + 2  # not recorded again: never redelivered
    assert stack.meta.send_attempts == 0


async def test_events_the_tables_cannot_hold_are_recorded_and_acked_once(stack: Stack) -> None:
    account = new_id()
    await stack.enable(account)
    for changes, _ in UNSTORABLE.values():
        await stack.publish(changed_event(account, changes))
    sources: list[_Acks] = []

    def counts(source: EventSource) -> EventSource:
        sources.append(_Acks(source))
        return sources[0]

    stack.start_worker(counts)

    async def all_acked() -> bool:
        return bool(sources) and len(sources[0].acked) >= len(UNSTORABLE)

    await stack.wait_for(all_acked, seconds=60, what="every unstorable event acked")
    [source] = sources
    assert sorted(source.acked) == sorted(e.ack_id for e in source.received)  # none came back
    details = []
    for event in source.received:
        [record] = await stack.rows("wa_fdr_events", event_key=f"pubsub:{event.message_id}")
        assert (record["outcome"], record["skip_reason"]) == ("skipped", "malformed")
        details.append(record["detail"])
    for _, named in UNSTORABLE.values():
        assert any(named in detail for detail in details), named
    assert stack.meta.send_attempts == 0
    # The worker goes on with the next event.
    await stack.publish(fdr_event(account_id=account))
    await stack.wait_for(lambda: _count(stack, 1), seconds=60, what="the next event sent")


async def _poison(stack: Stack) -> list[dict[str, Any]]:
    rows = await stack.rows("wa_fdr_events", outcome="skipped")
    return [
        r
        for r in rows
        if r["event_key"].startswith("pubsub:") and stack.topic and "malformed" in r["detail"]
    ]


async def _poison_count(stack: Stack, count: int) -> bool:
    return len(await _poison(stack)) >= count


async def test_throttled_by_meta_then_sent_once(stack: Stack) -> None:
    account = new_id()
    await stack.enable(account)
    stack.meta.fail_next(130429, message="(#130429) Rate limit hit")
    await stack.publish(fdr_event(account_id=account))
    stack.start_worker()
    await stack.wait_for(lambda: _count(stack, 1), what="the send after backoff")
    await asyncio.sleep(0.5)
    assert stack.meta.send_attempts == 2
    assert len(stack.meta.requests) == 1


async def test_an_undeliverable_number_is_a_recorded_failure_not_retried(stack: Stack) -> None:
    account = new_id()
    await stack.enable(account)
    stack.meta.fail_next(131026, message="Message undeliverable")
    event = fdr_event(account_id=account)
    await stack.publish(event)
    stack.start_worker()
    data = event["response_data"]
    await stack.wait_for(
        lambda: _acked_both(stack, data["id"], data["status_log_id"]), what="the failure"
    )
    await asyncio.sleep(0.5)
    assert stack.meta.send_attempts == 1
    [conversation] = await stack.rows("wa_conversations", shipment_id=data["id"])
    [message] = await stack.rows("wa_outgoing_messages", conversation_id=conversation["id"])
    assert (message["status"], message["error_code"]) == ("failed", 131026)
    assert conversation["state"] == "failed"


async def test_a_meta_timeout_is_never_sent_twice(stack: Stack) -> None:
    account = new_id()
    await stack.enable(account)
    stack.meta.delay_next(5.0)  # longer than the 2 s client timeout
    event = fdr_event(account_id=account)
    await stack.publish(event)
    stack.start_worker()
    data = event["response_data"]
    await stack.wait_for(
        lambda: _acked_both(stack, data["id"], data["status_log_id"]), what="the unknown outcome"
    )
    await asyncio.sleep(1.0)
    assert stack.meta.send_attempts == 1
    outcome = await stack.fdr_outcome(data["id"], int(data["status_log_id"]))
    assert outcome is not None
    assert outcome["outcome"] == "unknown"


@pytest_asyncio.fixture(loop_scope="session")
async def slow_stack(mysql_url: str, pubsub_emulator_host: str) -> AsyncIterator[Stack]:
    async with running_stack(mysql_url, pubsub_emulator_host, meta_throughput=5) as running:
        yield running


async def test_the_limiter_holds_the_rate_per_sender_number(slow_stack: Stack) -> None:
    stack = slow_stack  # 5 messages per second per sender number
    account = new_id()
    await stack.enable(account)
    stack.start_worker()
    first_possible = datetime.now(UTC)  # no send is let go before its event exists
    for _ in range(15):
        await stack.publish(fdr_event(account_id=account))
    await stack.wait_for(lambda: _count(stack, 15), seconds=120, what="fifteen sends")

    # The limiter's moving window lets the (5k+1)-th send go at least k seconds after the first
    # could, and a send reaches Meta only after the limiter let it go. A busy machine can only
    # delay sends, so this holds however slow it is; without the limiter, fifteen sends take
    # well under a second.
    arrived = sorted(r.received_at for r in stack.meta.requests)
    for n, at in enumerate(arrived):
        assert (at - first_possible).total_seconds() >= n // 5, f"send {n + 1} came too early"
