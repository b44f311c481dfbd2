"""The NDR conversation end to end: FDR event -> template -> the shopper's taps -> follow-ups
-> exactly one ESB action, over the emulator, MariaDB, Redis and the Meta, ESB fakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from domain.flows import CANCEL_TEXT, local_today
from tests.conftest import new_id
from tests.fakes.meta import RecordedSend, send_schema_error
from tests.support.app import AppClient
from tests.support.meta_webhooks import (
    button_tap,
    interactive_tap,
    signed,
    status,
    statuses_body,
    text_message,
)
from tests.support.stack import (
    APP_SECRET,
    PUBLIC_BASE_URL,
    Stack,
    fdr_event,
    stack_fixture,
)

SHOPPER = "917891971009"


stack = stack_fixture()


@dataclass
class Thread:
    stack: Stack
    client: AppClient
    shipment_id: int
    account_id: int
    template: RecordedSend
    payloads: dict[str, str]  # button id -> payload

    async def post(self, body: bytes) -> None:
        response = await self.client.post(
            "/webhooks/whatsapp", content=body, headers=signed(body, APP_SECRET)
        )
        assert response.status_code == 200
        await self.client.app.state.webhook_pump.drain()

    def ticks(self, *states: str) -> bytes:
        """The template's statuses as Meta sends them: with the callback data the send
        carried, which links them even when they overtake the worker's record of the send."""
        callback = self.template.body["biz_opaque_callback_data"]
        wamid = self.template.message_id
        return statuses_body([status(wamid, state, callback=callback) for state in states])

    async def tap(self, button_id: str, label: str = "label") -> RecordedSend | None:
        before = len(self.stack.meta.requests)
        await self.post(
            button_tap(SHOPPER, self.template.message_id, self.payloads[button_id], label)
        )
        return self._new_since(before)

    async def choose(self, message: RecordedSend, index: int) -> RecordedSend | None:
        button = message.body["interactive"]["action"]["buttons"][index]["reply"]
        before = len(self.stack.meta.requests)
        await self.post(interactive_tap(SHOPPER, message.message_id, button["id"], button["title"]))
        return self._new_since(before)

    async def write(self, text: str) -> RecordedSend | None:
        before = len(self.stack.meta.requests)
        await self.post(text_message(SHOPPER, text))
        return self._new_since(before)

    def _new_since(self, before: int) -> RecordedSend | None:
        new = self.stack.meta.requests[before:]
        assert len(new) <= 1, "one answer, at most one message back"
        return new[0] if new else None

    def actions(self) -> list[Any]:
        return [
            a.notification
            for a in self.stack.esb.actions
            if a.notification.shipment_id == self.shipment_id
        ]


async def start(
    stack: Stack,
    client: AppClient,
    reason: str,
    shipment_id: int | None = None,
    account: int | None = None,
    phone: str = SHOPPER[2:],
) -> Thread:
    """A conversation of a new workspace (or of ``account``, enabled already)."""
    if account is None:
        account = new_id()
        await stack.enable(account)
    event = fdr_event(reason, account_id=account, shipment_id=shipment_id, phone=phone)
    shipment = event["response_data"]["id"]
    link = f"{PUBLIC_BASE_URL}/track/whatsapp/{shipment}"

    before = len(stack.meta.requests)

    def sent() -> RecordedSend | None:
        for request in stack.meta.requests[before:]:
            body = request.body
            if body.get("type") == "template" and link in str(body):
                return request
        return None

    async def arrived() -> bool:
        return sent() is not None

    await stack.publish(event)
    await stack.wait_for(arrived, what=f"the {reason} template")
    await stack.answerable(shipment)
    template = sent()
    assert template is not None
    payloads = {}
    for component in template.body["template"]["components"]:
        if component["type"] == "button":
            payload = component["parameters"][0]["payload"]
            payloads[payload.rsplit(":", 1)[1]] = payload
    return Thread(stack, client, shipment, account, template, payloads)


def text_of(message: RecordedSend | None) -> str:
    assert message is not None
    assert send_schema_error(message.body) is None
    assert message.body["to"] == "+" + SHOPPER
    if message.body["type"] == "text":
        return str(message.body["text"]["body"])
    return str(message.body["interactive"]["body"]["text"])


FLOWS: dict[str, tuple[list[tuple[str, Any]], dict[str, Any]]] = {
    "customer_unreachable": (
        [("tap", "alt_number"), ("write", "You can call 98765 43210")],
        {"action": "update_phone", "phone": "919876543210"},
    ),
    "address_issue": (
        [("tap", "reattempt")],
        {"action": "reattempt", "disputed_fake_attempt": False},
    ),
    "refused": ([("tap", "not_refused")], {"action": "reattempt", "disputed_fake_attempt": True}),
    "customer_unavailable": ([("tap", "choose_date"), ("date", 1)], {"action": "reschedule"}),
    "rescheduled": ([("tap", "choose_date"), ("date", 0)], {"action": "reschedule"}),
    "oda": ([("tap", "cancel")], {"action": "cancel"}),
    "payment_issue": ([("tap", "pay_online"), ("tap", "reattempt")], {"action": "reattempt"}),
    "otp_cancellation": ([("tap", "confirm_cancel")], {"action": "cancel"}),
    "open_delivery": ([("tap", "support"), ("tap", "reattempt")], {"action": "reattempt"}),
}


@pytest.mark.parametrize("reason", list(FLOWS))
async def test_each_reason_from_event_to_one_esb_action(
    stack: Stack, client: AppClient, reason: str
) -> None:
    steps, expected = FLOWS[reason]
    thread = await start(stack, client, reason)
    wamid = thread.template.message_id
    await thread.post(thread.ticks("delivered", "read"))

    answers: list[RecordedSend | None] = []
    last: RecordedSend | None = None
    for kind, arg in steps:
        if kind == "tap":
            last = await thread.tap(arg)
        elif kind == "write":
            last = await thread.write(arg)
        else:
            assert last is not None
            buttons = last.body["interactive"]["action"]["buttons"]
            assert len(buttons) == 3
            expected["delivery_date"] = buttons[arg]["reply"]["id"].removeprefix("date-")
            last = await thread.choose(last, arg)
        answers.append(last)
        text_of(last)

    [action] = thread.actions()
    for field, value in expected.items():
        assert getattr(action, field) == value, (reason, field)
    assert action.account_id == thread.account_id
    assert action.external_shipment_id == "4980116095129-90758"
    if expected["action"] == "reschedule":
        # After the day the template was sent, India's time (whatever the hour of the run).
        assert date.fromisoformat(action.delivery_date) > local_today(thread.template.received_at)

    # Every row the seed names.
    [conversation] = await stack.rows("wa_conversations", shipment_id=thread.shipment_id)
    assert conversation["state"] == "resolved"
    thread_rows = await stack.rows("wa_outgoing_messages", conversation_id=conversation["id"])
    assert thread_rows[0]["kind"] == "template"
    template_row = thread_rows[0]
    assert template_row["status"] == "read"
    assert template_row["root_message_id"] is None
    assert len(thread_rows) == 1 + len(steps)
    assert {m["root_message_id"] for m in thread_rows[1:]} == {wamid}
    assert all(m["status"] == "accepted" for m in thread_rows[1:])
    reports = await stack.rows("wa_dlr_messages", message_id=wamid)
    assert sorted(r["status"] for r in reports) == ["delivered", "read"]
    assert {r["wa_outgoing_message_id"] for r in reports} == {template_row["id"]}
    replies = await stack.rows(
        "wa_customer_reply_messages", wa_root_outgoing_message_id=template_row["id"]
    )
    assert len(replies) == len(steps)
    assert all(r["handled_at"] is not None for r in replies)
    done = await stack.rows("wa_ndr_actions", conversation_id=conversation["id"])
    assert [(a["kind"], a["state"]) for a in done] == [(expected["action"], "done")]


async def test_the_confirmation_texts_say_what_happens(stack: Stack, client: AppClient) -> None:
    cancel = await start(stack, client, "otp_cancellation")
    assert text_of(await cancel.tap("confirm_cancel")) == CANCEL_TEXT
    address = await start(stack, client, "address_issue")
    link = f"{PUBLIC_BASE_URL}/track/whatsapp/{address.shipment_id}"
    assert link in text_of(await address.tap("update_address"))
    assert address.actions() == []
    support = await start(stack, client, "open_delivery")
    assert "+91-9876543210" in text_of(await support.tap("support"))


async def test_two_identical_taps_take_one_action(stack: Stack, client: AppClient) -> None:
    thread = await start(stack, client, "oda")
    first = await thread.tap("cancel")
    second = await thread.tap("cancel")
    assert text_of(first) == CANCEL_TEXT
    assert "already have your answer" in text_of(second)
    assert len(thread.actions()) == 1


async def test_a_tap_on_an_older_conversation_has_expired(stack: Stack, client: AppClient) -> None:
    older = await start(stack, client, "refused")
    await start(stack, client, "refused", shipment_id=older.shipment_id)  # a newer attempt
    answer = await older.tap("not_refused")
    assert "expired" in text_of(answer)
    assert older.actions() == []


async def test_an_older_attempt_arriving_late_leaves_the_newest_taps_working(
    stack: Stack, client: AppClient
) -> None:
    newer = await start(stack, client, "refused")
    [conversation] = await stack.rows("wa_conversations", shipment_id=newer.shipment_id)
    older_log = conversation["shipment_status_log_id"] - 1
    late = fdr_event(
        "refused",
        account_id=newer.account_id,
        shipment_id=newer.shipment_id,
        status_log_id=older_log,
    )
    await stack.publish(late)

    async def recorded() -> bool:
        return await stack.fdr_outcome(newer.shipment_id, older_log) is not None

    await stack.wait_for(recorded, what="the late attempt's outcome")
    outcome = await stack.fdr_outcome(newer.shipment_id, older_log)
    assert outcome is not None
    assert (outcome["outcome"], outcome["detail"][:10]) == ("skipped", "superseded")
    assert len(await stack.rows("wa_conversations", shipment_id=newer.shipment_id)) == 1

    answer = await newer.tap("not_refused")
    assert "expired" not in text_of(answer)
    assert len(newer.actions()) == 1


async def test_free_text_gets_one_nudge(stack: Stack, client: AppClient) -> None:
    thread = await start(stack, client, "customer_unavailable")
    first = await thread.write("when will it come?")
    second = await thread.write("hello??")
    assert "use the buttons" in text_of(first)
    assert second is None
    replies = await stack.rows("wa_customer_reply_messages", customer_reply_value="hello??")
    assert len(replies) == 1  # recorded either way
    assert thread.actions() == []


async def test_an_unavailable_esb_is_retried_and_acted_on_once(
    stack: Stack, client: AppClient
) -> None:
    thread = await start(stack, client, "oda")
    stack.esb.fail_next(503, times=3)  # every attempt of the first pass
    answer = await thread.tap("cancel")
    assert answer is None  # no promise before the ESB has it
    [pending] = [r for r in await stack.rows("wa_webhook_inbox") if r["processed_at"] is None]
    assert pending["error"].startswith("waiting: ")
    await client.app.state.webhook_pump.drain()  # the next sweep: the ESB is back
    assert len(thread.actions()) == 1
    assert text_of(stack.meta.requests[-1]) == CANCEL_TEXT


async def test_an_esb_answering_ok_without_a_reference_has_done_it(
    stack: Stack, client: AppClient
) -> None:
    stack.esb.acknowledge_with(200, b'{"status": "ok"}')
    thread = await start(stack, client, "oda")

    answer = await thread.tap("cancel")
    await client.app.state.webhook_pump.drain()  # a later sweep asks nothing again

    assert text_of(answer) == CANCEL_TEXT
    posted = [r for r in stack.esb.requests if str(thread.shipment_id) in r.body.decode()]
    assert len(posted) == 1
    [conversation] = await stack.rows("wa_conversations", shipment_id=thread.shipment_id)
    [done] = await stack.rows("wa_ndr_actions", conversation_id=conversation["id"])
    assert (done["state"], done["result"]) == ("done", "")
    assert not [r for r in await stack.rows("wa_webhook_inbox") if r["processed_at"] is None]


async def test_the_tracking_link_is_counted_and_redirects(stack: Stack, client: AppClient) -> None:
    thread = await start(stack, client, "address_issue")
    response = await client.get(
        f"/track/whatsapp/{thread.shipment_id}", headers={"User-Agent": "WhatsApp/2.24"}
    )
    assert response.status_code == 302
    # The event named the brand's tracking page host ("trackingDomain").
    assert response.headers["location"] == "https://track.scitron.com/1704612602165"
    [click] = await stack.rows("wa_link_clicks", shipment_id=thread.shipment_id)
    assert click["user_agent"] == "WhatsApp/2.24"
    unknown = await client.get(f"/track/whatsapp/{new_id()}")
    assert unknown.status_code == 404
    # A shopper's phone gets a small page, not JSON.
    assert unknown.headers["content-type"].startswith("text/html")
    assert "could not find this delivery" in unknown.text


async def test_the_workspace_timeline_hears_every_step(stack: Stack, client: AppClient) -> None:
    thread = await start(stack, client, "otp_cancellation")
    await thread.post(thread.ticks("sent", "delivered"))
    await thread.post(thread.ticks("read"))
    await thread.tap("confirm_cancel")
    await thread.client.get(f"/track/whatsapp/{thread.shipment_id}")

    async def complete() -> bool:
        steps = {(e["kind"], e["outcome"]) for e in await stack.activity(thread.shipment_id)}
        return ("click", "link_clicked") in steps

    await stack.wait_for(complete, what="the activity events")
    events = await stack.activity(thread.shipment_id)
    assert [(e["kind"], e["outcome"]) for e in events] == [
        ("fdr", "sent"),
        ("status", "sent"),
        ("status", "delivered"),
        ("status", "read"),
        ("answer", "answered"),
        ("action", "action_taken"),
        ("click", "link_clicked"),
    ]
    assert {e["account_id"] for e in events} == {thread.account_id}
    assert all(e["reason"] == "otp_cancellation" for e in events)


@pytest.mark.parametrize("domain", [None, "", "evil.example/x?y=", "user@evil.example"])
async def test_without_a_brand_host_the_link_goes_to_the_portal(
    stack: Stack, client: AppClient, domain: str | None
) -> None:
    account = new_id()
    await stack.enable(account)
    event = fdr_event("address_issue", account_id=account)
    event["response_data"]["trackingDomain"] = domain
    shipment = event["response_data"]["id"]
    await stack.publish(event)

    async def conversation() -> bool:
        return bool(await stack.rows("wa_conversations", shipment_id=shipment))

    await stack.wait_for(conversation, what="the conversation")
    response = await client.get(f"/track/whatsapp/{shipment}")
    assert response.status_code == 302
    assert response.headers["location"] == "https://track.example.com/1704612602165"
