"""Answers of many shoppers in one pass, over MariaDB and the fakes: one shopper's trouble at
Meta holds no one else's answer, one shopper's answers are acted on in the order given, and a
body done twice (again later, or by two pumps at once) answers each shopper once
(docs/webhooks.md, "Answers side by side")."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from application.use_cases.process_webhooks import ProcessWebhooks
from application.use_cases.webhook_bodies import RequeueWebhookBodies
from infrastructure.meta import webhook_builder as build
from tests.conftest import new_id
from tests.fakes.meta import RecordedSend
from tests.integration.test_ndr_conversation import start
from tests.support.app import AppClient
from tests.support.meta_webhooks import PHONE_NUMBER_ID, signed
from tests.support.stack import APP_SECRET, Stack, stack_fixture

stack = stack_fixture()


@dataclass(frozen=True)
class Shopper:
    wa_id: str  # as Meta names the shopper in a webhook
    template: str  # the wamid of the template the shopper got
    payloads: dict[str, str]  # button id -> payload

    @property
    def to(self) -> str:
        return "+" + self.wa_id


async def _shoppers(stack: Stack, client: AppClient, count: int, reason: str) -> list[Shopper]:
    """``count`` shoppers of one new workspace, each with the template of a failed delivery."""
    account = new_id()
    await stack.enable(account)
    base = new_id() % 10_000_000
    shoppers: list[Shopper] = []
    for n in range(count):
        phone = f"7{(base + n) % 10**9:09d}"
        thread = await start(stack, client, reason, account=account, phone=phone)
        shoppers.append(Shopper("91" + phone, thread.template.message_id, thread.payloads))
    return shoppers


def _tap(shopper: Shopper, button: str) -> dict[str, Any]:
    return {
        "from": shopper.wa_id,
        "id": f"wamid.SIDE{uuid.uuid4().hex}",
        "timestamp": str(int(time.time())),
        "context": {"from": "15550783881", "id": shopper.template},
        "type": "button",
        "button": {"payload": shopper.payloads[button], "text": button},
    }


def _body(messages: list[dict[str, Any]]) -> bytes:
    """One POST of Meta holding the messages of several shoppers, as Meta may batch them."""
    return build.envelope(
        {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"wa_id": m["from"], "profile": {"name": "Shopper"}} for m in messages],
            "messages": messages,
        }
    )


async def _store(client: AppClient, body: bytes) -> int:
    """Posts a signed body (the pump does not run by itself here); returns its inbox id."""
    response = await client.post(
        "/webhooks/whatsapp", content=body, headers=signed(body, APP_SECRET)
    )
    assert response.status_code == 200
    stack: Stack = client.app.state.test_stack
    rows = [r for r in await stack.rows("wa_webhook_inbox") if bytes(r["body"]) == body]
    return int(rows[0]["id"])


async def _pass(stack: Stack) -> None:
    """One pump pass, as a ``serve`` process runs it (its own scope, fresh bodies only)."""
    async with stack.container() as request:
        await (await request.get(ProcessWebhooks))()


def _sent_to(stack: Stack, shopper: Shopper, since: int) -> list[RecordedSend]:
    return [r for r in stack.meta.requests[since:] if r.body["to"] == shopper.to]


async def _inbox_row(stack: Stack, inbox_id: int) -> dict[str, Any]:
    (row,) = await stack.rows("wa_webhook_inbox", id=inbox_id)
    return row


@pytest.fixture(autouse=True)
def _remember_stack(stack: Stack, client: AppClient) -> None:
    client.app.state.test_stack = stack


async def test_a_shopper_meta_keeps_refusing_holds_no_one_else(
    stack: Stack, client: AppClient
) -> None:
    shoppers = await _shoppers(stack, client, 3, "customer_unavailable")
    stuck, *others = shoppers
    # Meta says "not now" to every try of the gateway for this one shopper only.
    stack.meta.fail_sends_to(stuck.to, 131000, http_status=500, times=4)
    before = len(stack.meta.requests)
    inbox_id = await _store(client, _body([_tap(s, "choose_date") for s in shoppers]))

    await _pass(stack)

    for shopper in others:  # answered (the date picker), while the first one's answer waits
        (picker,) = _sent_to(stack, shopper, before)
        assert picker.body["type"] == "interactive"
    assert _sent_to(stack, stuck, before) == []
    row = await _inbox_row(stack, inbox_id)
    assert row["processed_at"] is None
    assert str(row["error"]).startswith("waiting:")

    await client.app.state.webhook_pump.drain()  # Meta is back: the body is done again

    for shopper in shoppers:
        (picker,) = _sent_to(stack, shopper, before)  # each answered once, no one twice
        assert picker.body["type"] == "interactive"
    assert (await _inbox_row(stack, inbox_id))["processed_at"] is not None


async def test_shoppers_meta_refuses_at_the_same_moment_each_wait_then_get_one_answer(
    stack: Stack, client: AppClient
) -> None:
    # The follow-ups begun together are sent through one handler of the pass: refusals for
    # now that come back at the same moment are each stored, and each body waits.
    shoppers = await _shoppers(stack, client, 4, "customer_unavailable")
    *stuck, fine = shoppers
    for shopper in stuck:
        stack.meta.fail_sends_to(shopper.to, 131000, http_status=500, times=4)
    before = len(stack.meta.requests)
    inbox_ids = [await _store(client, _body([_tap(s, "choose_date")])) for s in shoppers]

    await _pass(stack)

    (picker,) = _sent_to(stack, fine, before)
    assert picker.body["type"] == "interactive"
    for shopper, inbox_id in zip(shoppers, inbox_ids, strict=True):
        assert _sent_to(stack, shopper, before) == [] or shopper is fine
        row = await _inbox_row(stack, inbox_id)
        if shopper is fine:
            assert row["processed_at"] is not None
        else:
            assert row["processed_at"] is None
            assert str(row["error"]).startswith("waiting:")

    await client.app.state.webhook_pump.drain()  # Meta is back: the bodies are done again

    for shopper in shoppers:
        (picker,) = _sent_to(stack, shopper, before)  # each answered once
        assert picker.body["type"] == "interactive"
    for inbox_id in inbox_ids:
        assert (await _inbox_row(stack, inbox_id))["processed_at"] is not None


async def test_a_shopper_meta_does_not_answer_holds_no_one_else(
    stack: Stack, client: AppClient
) -> None:
    shoppers = await _shoppers(stack, client, 3, "customer_unavailable")
    slow, *others = shoppers
    stack.meta.delay_sends_to(slow.to, 4.0)  # longer than the service waits for Meta (2 s)
    before = len(stack.meta.requests)
    inbox_id = await _store(client, _body([_tap(s, "choose_date") for s in shoppers]))

    await _pass(stack)

    for shopper in others:
        (picker,) = _sent_to(stack, shopper, before)
        assert picker.body["type"] == "interactive"
    # Meta took the slow one's send but never said so: kept as sent, never sent again.
    assert len(_sent_to(stack, slow, before)) == 1
    assert (await _inbox_row(stack, inbox_id))["processed_at"] is not None


async def test_one_shopper_s_answers_are_acted_on_in_the_order_given(
    stack: Stack, client: AppClient
) -> None:
    (shopper,) = await _shoppers(stack, client, 1, "payment_issue")
    first, second = _tap(shopper, "pay_online"), _tap(shopper, "reattempt")
    before = len(stack.meta.requests)
    await _store(client, _body([first, second]))

    await _pass(stack)

    answers = [
        (await stack.rows("wa_outgoing_messages", client_ref=f"reply:{m['id']}"))[0]
        for m in (first, second)
    ]
    assert answers[0]["id"] < answers[1]["id"]  # recorded (then sent) in the shopper's order
    sent = [r.message_id for r in _sent_to(stack, shopper, before)]
    assert sent == [a["message_id"] for a in answers]
    actions = await stack.rows("wa_ndr_actions", reply_message_id=second["id"])
    assert [a["kind"] for a in actions] == ["reattempt"]


async def test_a_body_of_many_shoppers_done_twice_answers_each_once(
    stack: Stack, client: AppClient
) -> None:
    shoppers = await _shoppers(stack, client, 6, "otp_cancellation")
    before = len(stack.meta.requests)
    esb_before = len(stack.esb.actions)
    inbox_id = await _store(client, _body([_tap(s, "confirm_cancel") for s in shoppers]))

    # Two serve processes' pumps at the same moment, then an operator's re-drive.
    await asyncio.gather(_pass(stack), _pass(stack))
    async with stack.container() as request:
        assert await (await request.get(RequeueWebhookBodies))([inbox_id]) == 1
    await _pass(stack)

    for shopper in shoppers:
        assert len(_sent_to(stack, shopper, before)) == 1
    assert len(stack.esb.actions) - esb_before == len(shoppers)
    assert (await _inbox_row(stack, inbox_id))["processed_at"] is not None


async def test_a_shopper_s_second_tap_of_a_pass_sees_what_the_first_asked(
    stack: Stack, client: AppClient
) -> None:
    # The pass reads ahead for each shopper's first answer; the second must read what the
    # first wrote, or it would promise the reattempt a second time.
    shoppers = await _shoppers(stack, client, 3, "customer_unavailable")
    again, *others = shoppers
    before = len(stack.meta.requests)
    esb_before = len(stack.esb.actions)
    first, second = _tap(again, "reattempt"), _tap(again, "reattempt")
    await _store(client, _body([first, second, *(_tap(s, "reattempt") for s in others)]))

    await _pass(stack)

    promise, already = (r.body["text"]["body"] for r in _sent_to(stack, again, before))
    assert promise != already
    assert already == "We already have your answer for this order. Thank you!"
    for shopper in others:
        (sent,) = _sent_to(stack, shopper, before)
        assert sent.body["text"]["body"] == promise
    assert len(stack.esb.actions) - esb_before == len(shoppers)


async def test_shoppers_meta_finds_unreachable_at_the_same_moment_are_each_signalled(
    stack: Stack, client: AppClient
) -> None:
    # The follow-ups begun together are sent through one handler of the pass: refusals for
    # an unreachable number (131026) that come back at the same moment each signal the SMS
    # fallback (docs/opt-out.md, "Whichever message finds out"), and no body fails for it.
    shoppers = await _shoppers(stack, client, 4, "customer_unavailable")
    for shopper in shoppers:
        stack.meta.fail_sends_to(shopper.to, 131026)
    inbox_id = await _store(client, _body([_tap(s, "choose_date") for s in shoppers]))

    await _pass(stack)

    row = await _inbox_row(stack, inbox_id)
    assert (row["processed_at"] is not None, row["error"]) == (True, None)
    for shopper in shoppers:
        (template,) = await stack.rows("wa_outgoing_messages", message_id=shopper.template)
        conversation_id = template["conversation_id"]
        signals = await stack.rows("wa_unreachable_signals", conversation_id=conversation_id)
        assert [(s["why"], s["error_code"]) for s in signals] == [("undeliverable", 131026)]
