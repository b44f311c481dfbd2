"""No dead ends, end to end: an ESB refusal puts the conversation on the workspace's list and
leaves the shopper the other options; a wrong alternate number is answered, never ignored."""

from __future__ import annotations

from domain.flows import ALREADY_TEXT
from tests.integration.test_ndr_conversation import start, text_of
from tests.support.app import AppClient
from tests.support.portal import SECRET, api, bearer
from tests.support.stack import Stack, stack_fixture

stack = stack_fixture(auth_jwt_secret=SECRET)


async def test_a_refusal_needs_a_person_and_the_shopper_can_choose_another_option(
    stack: Stack, client: AppClient
) -> None:
    thread = await start(stack, client, "customer_unreachable")
    stack.esb.refuse(thread.shipment_id, "shipment already handed to RTO", action="cancel")

    refused = await thread.tap("cancel")
    assert "could not cancel your order" in text_of(refused)
    assert "support team has been told" in text_of(refused)
    assert refused is not None
    buttons = [b["reply"] for b in refused.body["interactive"]["action"]["buttons"]]
    assert [(b["id"], b["title"]) for b in buttons] == [
        ("reattempt", "Reattempt delivery"),
        ("alt_number", "Alternate number"),
    ]
    [conversation] = await stack.rows("wa_conversations", shipment_id=thread.shipment_id)
    assert conversation["state"] == "needs_person"

    # The workspace sees it: the list's filter, the conversation view, the timeline.
    account = thread.account_id
    listed = await client.get(
        api(account, "/conversations"), params={"status": "needs_person"}, headers=bearer(account)
    )
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()["items"]] == [conversation["id"]]
    view = await client.get(
        api(account, f"/conversations/{conversation['id']}"), headers=bearer(account)
    )
    assert view.json()["conversation"]["status"] == "needs_person"
    [action] = [e for e in view.json()["thread"] if e["type"] == "action"]
    assert (action["action"], action["state"]) == ("cancel", "failed")

    async def told() -> bool:
        events = await stack.activity(thread.shipment_id)
        return any(e["outcome"] == "needs_person" for e in events)

    await stack.wait_for(told, what="the needs_person activity event")
    [event] = [
        e for e in await stack.activity(thread.shipment_id) if e["outcome"] == "needs_person"
    ]
    assert event["kind"] == "action"
    assert event["conversation_id"] == conversation["id"]
    assert "RTO" in event["detail"]

    # Tapping the refused option again says what happened, not "we already have your answer".
    again = await thread.tap("cancel")
    assert text_of(again) != ALREADY_TEXT
    assert "could not cancel your order" in text_of(again)

    # Another option is acted on and resolves the conversation.
    reattempt = await thread.choose(refused, 0)
    assert "try to deliver your order again" in text_of(reattempt)
    assert [a.action for a in thread.actions()] == ["reattempt"]
    [conversation] = await stack.rows("wa_conversations", shipment_id=thread.shipment_id)
    assert conversation["state"] == "resolved"


async def test_a_wrong_alternate_number_gets_why_then_a_hint(
    stack: Stack, client: AppClient
) -> None:
    thread = await start(stack, client, "customer_unreachable")
    await thread.tap("alt_number")

    toll_free = await thread.write("call 1800 11 4000")
    assert "toll-free" in text_of(toll_free)
    landline = await thread.write("or my office 011 2345 6789")
    assert "landline" in text_of(landline)
    assert "for example 8123456789" in text_of(landline)
    nothing = await thread.write("did you get it?")
    assert "could not find a phone number" in text_of(nothing)
    assert thread.actions() == []

    thanks = await thread.write("Call 9876543210 after 5pm")
    assert "3210" in text_of(thanks)
    [action] = thread.actions()
    assert (action.action, action.phone) == ("update_phone", "919876543210")
