"""Meta's webhook at its edges, over MariaDB and the fakes: one bad element never stops the
rest, and an answer drives a conversation only from its shopper, to its number, through its
connection (docs/webhooks.md)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
import structlog

from application.use_cases.webhook_bodies import RequeueWebhookBodies, ShowWebhookBody
from domain.settings import SenderConnection
from entrypoints.maintenance import describe_fate
from infrastructure.meta import webhook_builder as build
from tests.conftest import new_id
from tests.integration.test_ndr_conversation import SHOPPER, Thread, start
from tests.support.app import AppClient
from tests.support.meta_webhooks import (
    PHONE_NUMBER_ID,
    signed,
    status,
    statuses_body,
    text_message,
)
from tests.support.stack import APP_SECRET, Stack, stack_fixture

stack = stack_fixture()


def _wamid() -> str:
    return f"wamid.EDGE{uuid.uuid4().hex}"


def _message(*, sender: str | None = SHOPPER, **fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"id": _wamid(), "timestamp": str(int(time.time())), **fields}
    if sender is not None:
        message["from"] = sender
    return message


def _body(*, number: str = PHONE_NUMBER_ID, **value: Any) -> bytes:
    return build.envelope(
        {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": number},
            **value,
        }
    )


async def _post(
    client: AppClient, body: bytes, *, secret: str = APP_SECRET, connection: int | None = None
) -> int:
    """Posts a signed body, processes everything pending; returns the body's inbox id."""
    path = "/webhooks/whatsapp" if connection is None else f"/webhooks/whatsapp/{connection}"
    response = await client.post(path, content=body, headers=signed(body, secret))
    assert response.status_code == 200
    await client.app.state.webhook_pump.drain()
    return await _inbox_id(client, body)


async def _inbox_id(client: AppClient, body: bytes) -> int:
    stack: Stack = client.app.state.test_stack
    rows = [r for r in await stack.rows("wa_webhook_inbox") if bytes(r["body"]) == body]
    return max(int(r["id"]) for r in rows)  # the same poison may be posted by several tests


@pytest.fixture(autouse=True)
def _remember_stack(stack: Stack, client: AppClient) -> None:
    client.app.state.test_stack = stack


async def _problems(stack: Stack, inbox_id: int) -> list[dict[str, Any]]:
    return await stack.rows("wa_webhook_problems", inbox_id=inbox_id)


async def _reply(stack: Stack, body: bytes) -> dict[str, Any]:
    wamid = json.loads(body)["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    [reply] = await stack.rows("wa_customer_reply_messages", reply_message_id=wamid)
    return reply


def _sends_since(stack: Stack, before: int) -> list[Any]:
    return stack.meta.requests[before:]


# --- Isolation ------------------------------------------------------------------------------

POISON: dict[str, dict[str, Any]] = {
    "placeholder from": _message(
        sender="<WHATSAPP_USER_PHONE_NUMBER>", type="text", text={"body": "x"}
    ),
    "50-digit from": _message(sender="9" * 50, type="text", text={"body": "x"}),
    "huge timestamp": {**_message(type="text", text={"body": "x"}), "timestamp": "1e20"},
    "float timestamp": {**_message(type="text", text={"body": "x"}), "timestamp": 1e20},
    "non-ASCII wamid": {**_message(type="text", text={"body": "x"}), "id": "wamid.é" + "x" * 10},
    "300-character message id": {**_message(type="text", text={"body": "x"}), "id": "w" * 300},
    "1000-character reply id": _message(
        type="interactive",
        interactive={"type": "button_reply", "button_reply": {"id": "r" * 1000, "title": "t"}},
    ),
    "400-character context id": _message(
        type="text", text={"body": "x"}, context={"from": "1555", "id": "c" * 400}
    ),
}


@pytest.mark.parametrize("kind", list(POISON))
async def test_a_poison_message_is_recorded_and_the_statuses_after_it_are_not_held(
    stack: Stack, client: AppClient, kind: str
) -> None:
    thread = await start(stack, client, "customer_unreachable")
    poison = _body(messages=[POISON[kind]])
    poison_id = await _post(client, poison)
    [problem] = await _problems(stack, poison_id)
    assert problem["kind"] == "unreadable"
    assert problem["element"] == "entry[0].changes[0].value.messages[0]"
    [row] = await stack.rows("wa_webhook_inbox", id=poison_id)
    assert row["processed_at"] is not None
    assert row["error"] == "1 element(s) not applied"

    # The body after it is processed as if nothing had happened.
    await _post(client, statuses_body([status(thread.template.message_id, "delivered")]))
    ticks = await stack.rows("wa_dlr_messages", message_id=thread.template.message_id)
    assert [t["status"] for t in ticks] == ["delivered"]


async def test_a_deeply_nested_body_is_kept_as_unreadable(client: AppClient, stack: Stack) -> None:
    body = b'{"object":"whatsapp_business_account","entry":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    inbox_id = await _post(client, body)
    [row] = await stack.rows("wa_webhook_inbox", id=inbox_id)
    assert row["processed_at"] is not None
    assert row["error"].startswith("malformed: ")


async def test_one_unreadable_status_in_a_batch_of_1000_keeps_the_other_999(
    stack: Stack, client: AppClient
) -> None:
    thread = await start(stack, client, "customer_unreachable")
    entries = [status(f"wamid.OTHER{new_id()}", "delivered") for _ in range(999)]
    entries.insert(500, {**status(thread.template.message_id, "read"), "timestamp": "soon"})
    entries.append(status(thread.template.message_id, "delivered"))
    inbox_id = await _post(client, statuses_body(entries))
    [problem] = await _problems(stack, inbox_id)
    assert problem["element"] == "entry[0].changes[0].value.statuses[500]"
    assert "timestamp" in problem["detail"]
    other = entries[0]["id"]
    assert len(await stack.rows("wa_dlr_messages", message_id=other)) == 1
    ours = await stack.rows("wa_dlr_messages", message_id=thread.template.message_id)
    assert [t["status"] for t in ours] == ["delivered"]


async def test_value_level_errors_are_recorded_with_meta_s_code(
    stack: Stack, client: AppClient
) -> None:
    body = _body(errors=[{"code": 131000, "title": "Something went wrong"}])
    inbox_id = await _post(client, body)
    [problem] = await _problems(stack, inbox_id)
    assert (problem["kind"], problem["code"]) == ("meta_error", 131000)
    assert problem["detail"] == "Something went wrong"
    metrics = (await client.get("/metrics")).text
    assert 'webhook_element_problems_total{kind="meta_error"}' in metrics


# --- Binding --------------------------------------------------------------------------------


async def test_a_tap_signed_by_another_workspace_s_app_is_refused(
    stack: Stack, client: AppClient
) -> None:
    victim = await start(stack, client, "oda")
    other = SenderConnection(
        connection_id=new_id(),
        account_id=new_id(),
        phone_number_id=f"pn{new_id()}",
        waba_id=f"waba{new_id()}",
        access_token="token-other",
        app_secret="secret-of-another-brand",
    )
    stack.engine_fake.install(other)
    before = len(stack.meta.requests)
    # The other brand knows its own app secret, and (worst case) the victim's payload.
    tap = build.button_tap(
        SHOPPER,
        victim.template.message_id,
        victim.payloads["cancel"],
        "Cancel",
        phone_number_id=other.phone_number_id,
    )
    await _post(client, tap, secret=other.app_secret, connection=other.connection_id)
    assert victim.actions() == []
    assert _sends_since(stack, before) == []
    reply = await _reply(stack, tap)
    assert "not bound" in reply["decision"]
    assert reply["wa_root_outgoing_message_id"] is None
    metrics = (await client.get("/metrics")).text
    assert 'webhook_updates_total{kind="refused_answer"}' in metrics


async def test_a_tap_from_another_phone_is_refused(stack: Stack, client: AppClient) -> None:
    thread = await start(stack, client, "oda")
    before = len(stack.meta.requests)
    tap = build.button_tap(
        "919999999999",
        thread.template.message_id,
        thread.payloads["cancel"],
        "Cancel",
        phone_number_id=PHONE_NUMBER_ID,
    )
    await _post(client, tap)
    assert thread.actions() == []
    assert _sends_since(stack, before) == []
    assert "from another shopper" in (await _reply(stack, tap))["decision"]


async def test_a_payload_without_the_conversation_s_reference_names_nothing(
    stack: Stack, client: AppClient
) -> None:
    thread = await start(stack, client, "oda")
    before = len(stack.meta.requests)
    conversation_id = thread.payloads["cancel"].split(":")[1]
    guessed = f"fdr:{conversation_id}:{'0' * 32}:cancel"
    tap = build.button_tap(
        "919999999998",
        f"wamid.UNKNOWN{new_id()}",
        guessed,
        "Cancel",
        phone_number_id=PHONE_NUMBER_ID,
    )
    await _post(client, tap)
    assert thread.actions() == []
    assert _sends_since(stack, before) == []


async def test_a_text_to_another_business_number_gets_no_answer(
    stack: Stack, client: AppClient
) -> None:
    thread = await start(stack, client, "customer_unreachable")
    before = len(stack.meta.requests)
    text = _body(number="another-number", messages=[_message(type="text", text={"body": "hi"})])
    await _post(client, text)
    assert _sends_since(stack, before) == []
    assert thread.actions() == []
    assert "another business number" in (await _reply(stack, text))["decision"]
    # The shopper's own conversation still answers through its own number.
    answer = await thread.write("hello")
    assert answer is not None


async def test_free_text_goes_only_to_conversations_of_the_number_s_connection(
    stack: Stack, client: AppClient
) -> None:
    thread = await start(stack, client, "customer_unreachable")
    other = SenderConnection(
        connection_id=new_id(),
        account_id=new_id(),
        phone_number_id=f"pn{new_id()}",
        waba_id=f"waba{new_id()}",
        access_token="token-other",
        app_secret="secret-of-a-third-brand",
    )
    stack.engine_fake.install(other)
    before = len(stack.meta.requests)
    text = _body(
        number=other.phone_number_id,
        messages=[_message(type="text", text={"body": "Call 9876543210"})],
    )
    await _post(client, text, secret=other.app_secret, connection=other.connection_id)
    assert _sends_since(stack, before) == []
    assert thread.actions() == []
    assert json.loads((await _reply(stack, text))["decision"])["why"] == "no conversation"
    metrics = (await client.get("/metrics")).text
    assert 'webhook_updates_total{kind="unmatched_message"}' in metrics


# --- Messages that are not answers ----------------------------------------------------------

SILENT: dict[str, dict[str, Any]] = {
    "reaction": {"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "👍"}},
    "reaction removed": {"type": "reaction", "reaction": {"message_id": "wamid.X"}},
    "edit": {"type": "edit", "edit": {"original_message_id": "wamid.X"}},
    "revoke": {"type": "revoke", "revoke": {"original_message_id": "wamid.X"}},
    "identity notice": {
        "type": "system",
        "system": {"body": "changed", "type": "customer_identity_changed"},
    },
    "call permission": {
        "type": "interactive",
        "interactive": {"type": "call_permission_reply", "call_permission_reply": {}},
    },
}


@pytest.mark.parametrize("kind", list(SILENT))
async def test_non_answers_are_recorded_and_keep_the_nudge(
    stack: Stack, client: AppClient, kind: str
) -> None:
    thread = await start(stack, client, "customer_unreachable")
    before = len(stack.meta.requests)
    body = _body(messages=[_message(**SILENT[kind])])
    await _post(client, body)
    assert _sends_since(stack, before) == []
    assert (await _reply(stack, body))["handled_at"] is not None
    # The one nudge is still there for a real answer.
    nudge = await thread.write("what is this about?")
    assert nudge is not None


async def test_a_photo_is_told_what_the_conversation_can_use_once(
    stack: Stack, client: AppClient
) -> None:
    stack.meta.delay_next(1.0)  # Meta answers the template late, as on a busy machine
    thread = await start(stack, client, "oda")
    before = len(stack.meta.requests)
    photo: dict[str, Any] = {"type": "image", "image": {"id": "123", "mime_type": "image/jpeg"}}
    await _post(client, _body(messages=[_message(**photo)]))
    [told] = _sends_since(stack, before)
    assert "cannot read photos" in told.body["text"]["body"]
    await _post(client, _body(messages=[_message(**photo)]))
    assert len(_sends_since(stack, before)) == 1
    assert await thread.tap("cancel") is not None  # the buttons still work


async def test_a_changed_number_moves_the_conversation(stack: Stack, client: AppClient) -> None:
    thread = await start(stack, client, "oda")
    new_number = "919812345678"
    notice: dict[str, Any] = {
        "type": "system",
        "system": {
            "body": "User changed number",
            "wa_id": new_number,
            "type": "user_changed_number",
        },
    }
    await _post(client, _body(messages=[_message(**notice)]))
    [conversation] = await stack.rows("wa_conversations", shipment_id=thread.shipment_id)
    assert conversation["customer_phone"] == new_number
    before = len(stack.meta.requests)
    tap = build.button_tap(
        new_number,
        thread.template.message_id,
        thread.payloads["cancel"],
        "Cancel",
        phone_number_id=PHONE_NUMBER_ID,
    )
    await _post(client, tap)
    assert len(thread.actions()) == 1
    [confirmation] = _sends_since(stack, before)
    assert confirmation.body["to"] == "+" + new_number


async def test_a_username_only_shopper_answers_like_one_with_a_number(
    stack: Stack, client: AppClient
) -> None:
    thread = await start(stack, client, "customer_unreachable")
    user_id = f"IN.{new_id()}"
    # Meta names the shopper by user id in the template's status.
    delivered = {
        **status(thread.template.message_id, "delivered"),
        "recipient_user_id": user_id,
    }
    del delivered["recipient_id"]
    await _post(client, statuses_body([delivered]))
    [conversation] = await stack.rows("wa_conversations", shipment_id=thread.shipment_id)
    assert conversation["customer_user_id"] == user_id
    before = len(stack.meta.requests)
    tap = _body(
        messages=[
            _message(
                sender=None,
                from_user_id=user_id,
                type="button",
                context={"from": "15550783881", "id": thread.template.message_id},
                button={"payload": thread.payloads["alt_number"], "text": "Other number"},
            )
        ]
    )
    await _post(client, tap)
    [asked] = _sends_since(stack, before)
    assert asked.body["to"] == "+" + SHOPPER  # the number the conversation was sent to
    typed = _body(
        messages=[
            _message(sender=None, from_user_id=user_id, type="text", text={"body": "9876543210"})
        ]
    )
    await _post(client, typed)
    [action] = thread.actions()
    assert action.phone == "919876543210"


async def test_webhooks_show_and_retry(stack: Stack, client: AppClient) -> None:
    thread: Thread = await start(stack, client, "customer_unreachable")
    poison = _body(messages=[POISON["huge timestamp"]])
    inbox_id = await _post(client, poison)

    async with stack.container() as request:
        fate = await (await request.get(ShowWebhookBody))(inbox_id)
    text = describe_fate(fate)
    assert f"body {inbox_id}: processed with errors" in text
    assert "unreadable at entry[0].changes[0].value.messages[0]: timestamp" in text
    async with stack.container() as request:
        assert await (await request.get(RequeueWebhookBodies))([inbox_id]) == 1
    [row] = await stack.rows("wa_webhook_inbox", id=inbox_id)
    assert row["processed_at"] is None
    assert await _problems(stack, inbox_id) == []
    await client.app.state.webhook_pump.drain()
    assert len(await _problems(stack, inbox_id)) == 1
    assert thread.actions() == []


# --- A body Meta delivers again -------------------------------------------------------------


def _problems_counted(metrics: str, kind: str) -> float:
    line = f'webhook_element_problems_total{{kind="{kind}"}} '
    return sum(float(m[len(line) :]) for m in metrics.splitlines() if m.startswith(line))


@pytest.mark.parametrize("together", [False, True], ids=["later", "at once"])
async def test_a_body_delivered_again_has_the_effect_of_one(
    stack: Stack, client: AppClient, together: bool
) -> None:
    """Meta posts the same bytes again when our 200 was slow (docs/webhooks.md): both are
    stored (each answered 200), but the template's statuses are told once, the shopper's
    answer handled once, and the error element alerted and counted once."""
    thread: Thread = await start(stack, client, "customer_unavailable")
    callback = thread.template.body["biz_opaque_callback_data"]
    wamid = thread.template.message_id
    answer = json.loads(text_message(SHOPPER, "I will be home tomorrow"))
    value = answer["entry"][0]["changes"][0]["value"]
    value["statuses"] = [
        status(wamid, "delivered", callback=callback),
        status(wamid, "read", callback=callback),
        status(_wamid(), "delivered"),  # a message not known yet: kept unlinked
    ]
    value["errors"] = [{"code": 131000, "title": f"Something went wrong {uuid.uuid4().hex}"}]
    body = json.dumps(answer, separators=(",", ":")).encode()
    counted = _problems_counted((await client.get("/metrics")).text, "meta_error")
    sends = len(stack.meta.requests)

    with structlog.testing.capture_logs() as logs:
        if together:
            answers = await asyncio.gather(
                *(
                    client.post(
                        "/webhooks/whatsapp", content=body, headers=signed(body, APP_SECRET)
                    )
                    for _ in range(2)
                )
            )
            assert [a.status_code for a in answers] == [200, 200]
            await client.app.state.webhook_pump.drain()
        else:
            await _post(client, body)
            await _post(client, body)

    stored = [r for r in await stack.rows("wa_webhook_inbox") if bytes(r["body"]) == body]
    assert len(stored) == 2
    assert all(r["error"] == "1 element(s) not applied" for r in stored)
    for row in stored:  # each body shows what it did not apply
        assert [p["code"] for p in await _problems(stack, row["id"])] == [131000]
    alerts = [e for e in logs if e["event"] == "ALERT webhook elements not applied"]
    assert [a["delivery_id"] for a in alerts] == [stored[0]["id"]]
    assert _problems_counted((await client.get("/metrics")).text, "meta_error") == counted + 1
    events = await stack.activity(thread.shipment_id)
    ticks = [e["outcome"] for e in events if e["kind"] == "status"]
    assert ticks == ["delivered", "read"]
    assert [e["outcome"] for e in events if e["kind"] == "answer"] == ["answered"]
    assert len(stack.meta.requests) - sends == 1  # one answer to the shopper
    reports = await stack.rows("wa_dlr_messages", message_id=wamid)
    assert sorted(r["status"] for r in reports) == ["delivered", "read"]
