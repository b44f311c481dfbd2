"""What became of the shipment after the conversation: the shipment events that follow a
notified failed attempt, through the emulator, the worker and MariaDB, with the fakes."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from gcloud.aio.pubsub import PubsubMessage

from application.use_cases.intake import ShipmentEventIntake
from application.use_cases.intake_triage import ShipmentEventTriage
from infrastructure.pubsub.client import PubSubTarget
from infrastructure.pubsub.source import PubSubEventSource
from tests.conftest import new_id
from tests.integration.test_ndr_conversation import Thread, start
from tests.support.app import AppClient
from tests.support.portal import SECRET, api, bearer
from tests.support.stack import Stack, fdr_event, new_subscription, stack_fixture

IST = timedelta(hours=5, minutes=30)
#: Long after any answer the tests give: the courier's event comes after the shopper's choice.
LATER = "2099-01-05 11:00:00"


stack = stack_fixture(auth_jwt_secret=SECRET)


def shipment_event(
    kind: str, thread: Thread, status_log_id: int, at: str = LATER
) -> dict[str, Any]:
    """A shipment event of ``kind`` for the thread's shipment, in the FDR event's shape."""
    event = fdr_event(
        account_id=thread.account_id, shipment_id=thread.shipment_id, status_log_id=status_log_id
    )
    event["eventSubType"] = kind
    event["response_data"]["status"] = kind
    event["response_data"]["status_updated_at"] = at
    return event


async def attempt_of(stack: Stack, thread: Thread) -> dict[str, Any]:
    [first, *_] = await stack.rows("wa_conversations", shipment_id=thread.shipment_id)
    return first


async def made_before_the_chosen_date(stack: Stack, thread: Thread) -> str:
    """When a courier's attempt made just after the shopper chose a date, and before that date,
    is stamped (India's time, as the WMS writes it): a few minutes from now, but never on the
    chosen date (near midnight in India, the last second of the day before it)."""
    [action] = await stack.rows("wa_ndr_actions", shipment_id=thread.shipment_id)
    assert action["kind"] == "reschedule"
    eve = datetime.combine(action["delivery_date"], time(0)) - timedelta(seconds=1)
    made = min((datetime.now(UTC) + IST).replace(tzinfo=None) + timedelta(minutes=5), eve)
    stamp = made.strftime("%Y-%m-%d %H:%M:%S")
    assert stamp[:10] < action["delivery_date"].isoformat()
    return stamp


async def outcomes(stack: Stack, thread: Thread) -> list[dict[str, Any]]:
    return await stack.rows("wa_conversation_outcomes", shipment_id=thread.shipment_id)


async def answer(thread: Thread, reason: str) -> None:
    """The shopper's answer for the reason's flow (none for ``no_answer``)."""
    if reason == "address_issue":
        await thread.tap("reattempt")
    elif reason == "rescheduled":
        dates = await thread.tap("choose_date")
        assert dates is not None
        await thread.choose(dates, 0)
    elif reason == "customer_unreachable":
        await thread.tap("alt_number")
        await thread.write("You can call 98765 43210")
    elif reason == "otp_cancellation":
        await thread.tap("confirm_cancel")


ANSWERS = {
    "no_answer": "customer_unavailable",
    "reattempt": "address_issue",
    "reschedule": "rescheduled",
    "update_phone": "customer_unreachable",
    "cancel": "otp_cancellation",
}
#: Whether the courier's next event honours each answer (None: nothing to judge).
HONOURED: dict[str, dict[str, bool | None]] = {
    "no_answer": {"delivered": None, "rto_initiated": None, "failed_delivery": None},
    "reattempt": {"delivered": True, "rto_initiated": False, "failed_delivery": True},
    "reschedule": {"delivered": True, "rto_initiated": False, "failed_delivery": True},
    "update_phone": {"delivered": True, "rto_initiated": False, "failed_delivery": True},
    "cancel": {"delivered": False, "rto_initiated": True, "failed_delivery": False},
}
OUTCOME = {"delivered": "delivered", "rto_initiated": "rto", "failed_delivery": "failed_again"}
#: An event that comes later in the shipment's order but reaches us first.
LATE_FIRST = {
    "delivered": "delivered",
    "rto_initiated": "rto_delivered",
    "failed_delivery": "delivered",
}


@pytest.mark.parametrize("kind", list(OUTCOME))
@pytest.mark.parametrize("chosen", list(ANSWERS))
async def test_each_answer_and_next_event_set_the_outcome_once(
    stack: Stack, client: AppClient, chosen: str, kind: str
) -> None:
    thread = await start(stack, client, ANSWERS[chosen])
    await answer(thread, ANSWERS[chosen])
    attempt = await attempt_of(stack, thread)
    log = attempt["shipment_status_log_id"]
    # Out of order and twice: a later event first, then the next one, twice.
    for event in (
        shipment_event(LATE_FIRST[kind], thread, log + 9),
        shipment_event(kind, thread, log + 5),
        shipment_event(kind, thread, log + 5),
    ):
        await stack.publish(event)

    async def settled() -> bool:
        found = await outcomes(stack, thread)
        mine = [o for o in found if o["conversation_id"] == attempt["id"]]
        stored = await stack.rows("wa_shipment_events", shipment_id=thread.shipment_id)
        return len(stored) == 2 and bool(mine) and mine[0]["outcome_status_log_id"] == log + 5

    await stack.wait_for(settled, seconds=60, what=f"the {kind} outcome")
    stored = await stack.rows("wa_shipment_events", shipment_id=thread.shipment_id)
    assert sorted(e["shipment_status_log_id"] for e in stored) == [log + 5, log + 9]
    [mine] = [o for o in await outcomes(stack, thread) if o["conversation_id"] == attempt["id"]]
    assert mine["outcome"] == OUTCOME[kind]
    assert mine["next_event"] == kind
    assert mine["answer"] == chosen
    expected = HONOURED[chosen][kind]
    assert (None if mine["honoured"] is None else bool(mine["honoured"])) is expected
    if kind != "failed_delivery":
        # The timeline hears each new judgement once (the duplicate adds nothing); the last
        # one is what the courier did next.
        async def told_outcomes() -> list[dict[str, Any]]:
            return [
                e
                for e in await stack.activity(thread.shipment_id)
                if e["kind"] == "outcome" and e["conversation_id"] == attempt["id"]
            ]

        async def told_last() -> bool:
            told = await told_outcomes()
            return bool(told) and f"courier_next={kind};" in told[-1]["detail"]

        await stack.wait_for(told_last, seconds=60, what="the outcome on the timeline")
        told = await told_outcomes()
        details = [e["detail"] for e in told]
        assert len(details) == len(set(details)) >= 1
        assert told[-1]["outcome"] == f"shipment_{OUTCOME[kind]}"
        assert told[-1]["reason"] == ANSWERS[chosen]
        assert f"answer={chosen}; courier_next={kind};" in told[-1]["detail"]
        if LATE_FIRST[kind] == kind:
            assert len(told) == 1  # the late event only moved the outcome to an earlier one
    else:
        # The new failed attempt was written about: the delivery is that conversation's.
        later = [o for o in await outcomes(stack, thread) if o["conversation_id"] != attempt["id"]]
        assert [o["outcome"] for o in later] == ["delivered"]


async def test_a_reschedule_followed_by_an_earlier_attempt_is_not_honoured(
    stack: Stack, client: AppClient
) -> None:
    thread = await start(stack, client, "rescheduled")
    await answer(thread, "rescheduled")
    [action] = await stack.rows("wa_ndr_actions", shipment_id=thread.shipment_id)
    assert action["kind"] == "reschedule"
    attempt = await attempt_of(stack, thread)
    log = attempt["shipment_status_log_id"]
    today = await made_before_the_chosen_date(stack, thread)
    # The delivery reaches us first, the attempt made before the chosen date late.
    await stack.publish(shipment_event("delivered", thread, log + 9))

    async def honoured(value: bool) -> bool:
        found = [o for o in await outcomes(stack, thread) if o["conversation_id"] == attempt["id"]]
        judged = found[0]["honoured"] if found else None
        return judged is not None and bool(judged) is value

    await stack.wait_for(lambda: honoured(True), seconds=60, what="delivered, honoured")
    failed = fdr_event(
        "rescheduled",
        account_id=thread.account_id,
        shipment_id=thread.shipment_id,
        status_log_id=log + 5,
    )
    failed["response_data"]["status_updated_at"] = today
    await stack.publish(failed)
    await stack.wait_for(lambda: honoured(False), seconds=60, what="not honoured")
    [mine] = [o for o in await outcomes(stack, thread) if o["conversation_id"] == attempt["id"]]
    assert (mine["outcome"], mine["next_event"], mine["answer"]) == (
        "failed_again",
        "failed_delivery",
        "reschedule",
    )

    async def told_not_honoured() -> bool:
        return any(
            e["kind"] == "outcome"
            and e["conversation_id"] == attempt["id"]
            and "honoured=no" in e["detail"]
            for e in await stack.activity(thread.shipment_id)
        )

    await stack.wait_for(told_not_honoured, seconds=60, what="not honoured on the timeline")


async def test_an_action_done_after_the_courier_s_event_is_judged_when_it_is_done(
    stack: Stack, client: AppClient
) -> None:
    thread = await start(stack, client, "address_issue")
    stack.esb.fail_next(503, times=3)  # the ESB is down when the shopper answers
    await thread.tap("reattempt")
    assert thread.actions() == []
    attempt = await attempt_of(stack, thread)
    await stack.publish(shipment_event("delivered", thread, attempt["shipment_status_log_id"] + 1))

    async def judged(expected: bool | None) -> bool:
        found = [o for o in await outcomes(stack, thread) if o["conversation_id"] == attempt["id"]]
        if not found or found[0]["outcome"] != "delivered":
            return False
        honoured = found[0]["honoured"]
        return (None if honoured is None else bool(honoured)) is expected

    await stack.wait_for(lambda: judged(None), seconds=60, what="delivered, not judged yet")
    await client.app.state.webhook_pump.drain()  # the next sweep: the ESB is back
    assert len(thread.actions()) == 1
    await stack.wait_for(lambda: judged(True), seconds=60, what="the late action judged")

    async def told_honoured() -> bool:
        return any(
            e["kind"] == "outcome"
            and e["conversation_id"] == attempt["id"]
            and e["detail"] == "answer=reattempt; courier_next=delivered; honoured=yes"
            for e in await stack.activity(thread.shipment_id)
        )

    await stack.wait_for(told_honoured, seconds=60, what="the judgement on the timeline")


async def test_events_of_shipments_never_messaged_are_acknowledged_without_a_write(
    stack: Stack,
) -> None:
    shipment = new_id()
    for kind in ("delivered", "rto_initiated", "cancelled", "intransit"):
        event = fdr_event(account_id=new_id(), shipment_id=shipment, status_log_id=new_id())
        event["eventSubType"] = kind
        event["response_data"]["status"] = kind
        async with stack.container() as request:
            intake = await request.get(ShipmentEventIntake)
            result = await intake(json.dumps(event).encode(), f"m-{kind}-{shipment}")
        assert result.disposition.value == "ack"
        expected = "not_fdr" if kind == "intransit" else "outcome_not_messaged"
        assert result.outcome == expected
    for table in ("wa_shipment_events", "wa_conversation_outcomes", "wa_fdr_events"):
        assert await stack.rows(table, shipment_id=shipment) == []


async def _outcome_of(stack: Stack, thread: Thread, expected: str) -> None:
    async def recorded() -> bool:
        found = await outcomes(stack, thread)
        return any(o["outcome"] == expected for o in found)

    await stack.wait_for(recorded, seconds=60, what=f"outcome {expected}")


async def test_the_stats_the_export_and_the_conversations_show_the_outcomes(
    stack: Stack, client: AppClient
) -> None:
    account = new_id()
    await stack.enable(account)
    reattempted = await start(stack, client, "address_issue", account=account)
    await answer(reattempted, "address_issue")
    rescheduled = await start(stack, client, "rescheduled", account=account)
    await answer(rescheduled, "rescheduled")
    returned = await start(stack, client, "customer_unavailable", account=account)
    waiting = await start(stack, client, "otp_cancellation", account=account)

    log = (await attempt_of(stack, reattempted))["shipment_status_log_id"]
    await stack.publish(shipment_event("delivered", reattempted, log + 1))
    log = (await attempt_of(stack, returned))["shipment_status_log_id"]
    await stack.publish(shipment_event("rto_initiated", returned, log + 1))
    # An attempt before the chosen date: not honoured; it starts a conversation of its own.
    log = (await attempt_of(stack, rescheduled))["shipment_status_log_id"]
    shipment = rescheduled.shipment_id
    failed = fdr_event(
        "rescheduled", account_id=account, shipment_id=shipment, status_log_id=log + 1
    )
    failed["response_data"]["status_updated_at"] = await made_before_the_chosen_date(
        stack, rescheduled
    )
    await stack.publish(failed)
    await _outcome_of(stack, reattempted, "delivered")
    await _outcome_of(stack, returned, "rto")
    await _outcome_of(stack, rescheduled, "failed_again")

    async def five_notified() -> bool:
        rows = await stack.rows("wa_conversations", account_id=account)
        return len([r for r in rows if r["root_message_id"]]) == 5

    await stack.wait_for(five_notified, seconds=60, what="the second reschedule conversation")
    response = await client.get(api(account, "/stats"), headers=bearer(account))
    assert response.status_code == 200, response.text
    outcomes_ = response.json()["outcomes"]
    assert outcomes_["total"] == {
        "key": "all",
        "notified": 5,
        "delivered": 1,
        "deliveredRate": 0.2,
        "rto": 1,
        "rtoRate": 0.2,
        "cancelled": 0,
        "failedAgain": 1,
        "pending": 2,
        "judged": 2,
        "notHonoured": 1,
        "notHonouredRate": 0.5,
    }
    by_answer = {t["key"]: t for t in outcomes_["byAnswer"]}
    assert sorted(by_answer) == ["no_answer", "reattempt", "reschedule"]
    reattempt = by_answer["reattempt"]
    assert (reattempt["delivered"], reattempt["deliveredRate"]) == (1, 1.0)
    assert by_answer["reschedule"]["notHonouredRate"] == 1.0
    assert (by_answer["no_answer"]["notified"], by_answer["no_answer"]["rto"]) == (3, 1)
    assert [t["key"] for t in outcomes_["byCourier"]] == ["Delhivery"]
    by_reason = {t["key"]: t for t in outcomes_["byReason"]}
    assert by_reason["customer_unavailable"]["rtoRate"] == 1.0

    export = await client.get(api(account, "/outcomes.csv"), headers=bearer(account))
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(export.text)))
    assert len(lines) == 5
    by_shipment = {(int(r["shipment_id"]), r["outcome"]): r for r in lines}
    delivered = by_shipment[(reattempted.shipment_id, "delivered")]
    assert (delivered["answer"], delivered["honoured"], delivered["courier"]) == (
        "reattempt",
        "true",
        "Delhivery",
    )
    assert by_shipment[(rescheduled.shipment_id, "failed_again")]["honoured"] == "false"
    assert by_shipment[(returned.shipment_id, "rto")]["answer"] == "no_answer"
    assert by_shipment[(waiting.shipment_id, "")]["next_event"] == ""
    other = await client.get(api(account, "/outcomes.csv"), headers=bearer(new_id()))
    assert other.status_code == 403

    # The portal's list and thread say the same of each conversation.
    page = await client.get(api(account, "/conversations"), headers=bearer(account))
    assert page.status_code == 200, page.text
    shown = {
        (i["shipmentId"], i["outcome"]): (i["courierNextEvent"], i["honoured"])
        for i in page.json()["items"]
    }
    assert shown == {
        (reattempted.shipment_id, "delivered"): ("delivered", True),
        (rescheduled.shipment_id, "failed_again"): ("failed_delivery", False),
        (rescheduled.shipment_id, "pending"): (None, None),  # the attempt it failed again on
        (returned.shipment_id, "rto"): ("rto_initiated", None),
        (waiting.shipment_id, "pending"): (None, None),
    }
    delivered_id = int(delivered["conversation_id"])
    thread = await client.get(
        api(account, f"/conversations/{delivered_id}"), headers=bearer(account)
    )
    assert thread.status_code == 200, thread.text
    summary = thread.json()["conversation"]
    assert (summary["outcome"], summary["courierNextEvent"], summary["honoured"]) == (
        "delivered",
        "delivered",
        True,
    )
    assert summary["outcomeAt"] == "2099-01-05T05:30:00Z"  # LATER, India time


async def test_the_worker_acknowledges_a_batch_of_unmessaged_shipments_with_one_read(
    stack: Stack, client: AppClient
) -> None:
    thread = await start(stack, client, "address_issue")
    log = (await attempt_of(stack, thread))["shipment_status_log_id"]
    unknown = new_id()
    batch = [
        shipment_event("delivered", thread, log + 3),  # messaged: handled
        fdr_event(account_id=thread.account_id, shipment_id=unknown),  # a failed attempt: handled
    ]
    for kind in ("delivered", "rto_delivered", "intransit"):
        other = fdr_event(account_id=thread.account_id, shipment_id=unknown, status_log_id=new_id())
        other["eventSubType"] = kind
        other["response_data"]["status"] = kind
        batch.append(other)
    async with stack.container() as request:
        triage = await request.get(ShipmentEventTriage)
        skip = await triage([json.dumps(e).encode() for e in batch])
    assert skip == [False, False, True, True, True]


async def test_outcome_events_may_come_on_a_subscription_of_their_own(
    stack: Stack, client: AppClient
) -> None:
    thread = await start(stack, client, "address_issue")
    log = (await attempt_of(stack, thread))["shipment_status_log_id"]
    assert stack.config.pubsub_project
    target = PubSubTarget(stack.config.pubsub_project, stack.config.pubsub_emulator_host)
    subscriber = target.subscriber()
    topic, subscription = await new_subscription(target, stack.publisher, subscriber, "shipments")
    # A worker on the second subscription (what WA_PUBSUB_OUTCOME_SUBSCRIPTION starts).
    stack.start_worker(lambda _: PubSubEventSource(subscriber, subscription, pull_timeout=1))
    data = json.dumps(shipment_event("delivered", thread, log + 2)).encode()
    await stack.publisher.publish(topic, [PubsubMessage(data)])

    async def delivered() -> bool:
        return [o["outcome"] for o in await outcomes(stack, thread)] == ["delivered"]

    await stack.wait_for(delivered, seconds=60, what="the outcome from the second subscription")


async def test_a_batch_of_new_failed_attempts_records_each_earlier_attempt_s_outcome(
    stack: Stack, client: AppClient
) -> None:
    threads = [
        await start(stack, client, "address_issue"),
        await start(stack, client, "customer_unavailable"),
    ]
    logs = [(await attempt_of(stack, thread))["shipment_status_log_id"] for thread in threads]
    never = new_id()  # a shipment never messaged, in the same batch
    batch = [
        fdr_event(account_id=t.account_id, shipment_id=t.shipment_id, status_log_id=log + 5)
        for t, log in zip(threads, logs, strict=True)
    ]
    batch.append(fdr_event(account_id=threads[0].account_id, shipment_id=never))
    async with stack.container() as request:
        intake = await request.get(ShipmentEventIntake)
        results = await intake.many(
            [(json.dumps(e).encode(), f"m-{n}-{new_id()}") for n, e in enumerate(batch)]
        )

    assert all(not isinstance(r, Exception) and r.disposition.value == "ack" for r in results)
    for thread, log in zip(threads, logs, strict=True):
        attempt = await attempt_of(stack, thread)
        [first] = [
            o for o in await outcomes(stack, thread) if o["conversation_id"] == attempt["id"]
        ]
        assert (first["outcome"], first["outcome_status_log_id"]) == ("failed_again", log + 5)
    assert await stack.rows("wa_shipment_events", shipment_id=never) == []
