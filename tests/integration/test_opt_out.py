"""Opt-out and the SMS fallback signal end to end (docs/opt-out.md): the shopper's STOP and
START, Meta's marketing preference, the portal's list and clear, and ``whatsapp_unreachable``
once per conversation; over the emulator, MariaDB, Redis and the Meta fake."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import new_id
from tests.fakes.meta import RecordedSend
from tests.support.app import AppClient
from tests.support.meta_webhooks import (
    button_tap,
    signed,
    status,
    statuses_body,
    text_message,
    user_preferences,
)
from tests.support.portal import SECRET, api, bearer, token
from tests.support.stack import (
    APP_SECRET,
    PUBLIC_BASE_URL,
    Stack,
    fdr_event,
    stack_fixture,
)

NATIONAL = "7891970042"
SHOPPER = "91" + NATIONAL
#: Writes Hindi, which the shopper's later messages keep (docs/languages.md).
HINDI_NATIONAL = "7891970043"
CONSOLE_NATIONAL = "7891970044"
#: A number whose follow-ups Meta refuses (131026).
UNREACHED_NATIONAL = "7891970045"
SHOPPER_OF_UNREACHED = "91" + UNREACHED_NATIONAL


stack = stack_fixture(auth_jwt_secret=SECRET)


async def post(client: AppClient, body: bytes) -> None:
    response = await client.post(
        "/webhooks/whatsapp", content=body, headers=signed(body, APP_SECRET)
    )
    assert response.status_code == 200
    await client.app.state.webhook_pump.drain()


async def notify(
    stack: Stack, account: int, national: str = NATIONAL
) -> tuple[dict[str, Any], RecordedSend | None]:
    """A new failed delivery to the shopper: its recorded outcome and the template, if any."""
    event = fdr_event("customer_unreachable", account_id=account, phone=national)
    outcome, sent = await stack.handled(event)
    link = f"{PUBLIC_BASE_URL}/track/whatsapp/{event['response_data']['id']}"
    templates = [s for s in sent if s.body.get("type") == "template" and link in str(s.body)]
    return outcome, templates[0] if templates else None


async def write(stack: Stack, client: AppClient, text: str, national: str = NATIONAL) -> str:
    """The shopper writes ``text``; the one text we answer with."""
    before = len(stack.meta.requests)
    await post(client, text_message("91" + national, text))
    answers = [r for r in stack.meta.requests[before:] if r.body.get("type") == "text"]
    assert len(answers) == 1, "one confirmation"
    assert answers[0].body["to"] == "+91" + national
    return str(answers[0].body["text"]["body"])


async def signals(stack: Stack, shipment_id: int) -> list[dict[str, Any]]:
    return [e for e in await stack.activity(shipment_id) if e["outcome"] == "whatsapp_unreachable"]


async def test_stop_stops_templates_until_start(stack: Stack, client: AppClient) -> None:
    account = new_id()
    await stack.enable(account)
    outcome, template = await notify(stack, account)
    assert outcome["outcome"] == "sent"
    assert template is not None

    confirmation = await write(stack, client, "  Stop ")
    assert "not get any more WhatsApp messages" in confirmation
    assert "START" in confirmation

    outcome, template = await notify(stack, account)
    assert template is None
    assert outcome["outcome"] == "skipped"
    assert (outcome["skip_reason"], outcome["detail"][:10]) == ("opted_out", "opted_out:")
    shipment = outcome["shipment_id"]

    async def signalled() -> bool:
        return len(await signals(stack, shipment)) == 1

    await stack.wait_for(signalled, what="whatsapp_unreachable for the skipped event")
    [signal] = await signals(stack, shipment)
    assert signal["kind"] == "fallback"
    assert signal["detail"] == "opted_out"
    assert signal["account_id"] == account

    confirmation = await write(stack, client, "START")
    assert "again" in confirmation
    outcome, template = await notify(stack, account)
    assert outcome["outcome"] == "sent"
    assert template is not None


async def test_unsubscribe_and_hindi_stop_are_answered_in_their_language(
    stack: Stack, client: AppClient
) -> None:
    account = new_id()
    await stack.enable(account)
    await notify(stack, account, HINDI_NATIONAL)

    confirmation = await write(stack, client, "बंद करो", HINDI_NATIONAL)
    assert "WhatsApp संदेश नहीं मिलेंगे" in confirmation
    outcome, template = await notify(stack, account, HINDI_NATIONAL)
    assert template is None
    assert outcome["detail"].startswith("opted_out:")

    confirmation = await write(stack, client, "शुरू", HINDI_NATIONAL)
    assert "फिर से मिलेंगे" in confirmation
    _, template = await notify(stack, account, HINDI_NATIONAL)
    assert template is not None

    confirmation = await write(stack, client, "UNSUBSCRIBE!", HINDI_NATIONAL)
    assert "नहीं मिलेंगे" in confirmation  # the shopper chose Hindi by writing it
    _, template = await notify(stack, account, HINDI_NATIONAL)
    assert template is None

    # Another workspace's templates still reach the shopper: the opt-out is per workspace.
    other = new_id()
    await stack.enable(other)
    outcome, template = await notify(stack, other, HINDI_NATIONAL)
    assert outcome["outcome"] == "sent"
    assert template is not None


async def test_a_marketing_stop_is_recorded_and_utility_templates_still_go(
    stack: Stack, client: AppClient
) -> None:
    account = new_id()
    await stack.enable(account)
    await notify(stack, account)

    await post(client, user_preferences(SHOPPER, "stop"))

    rows = await stack.rows("wa_opt_outs", account_id=account)
    assert [(r["scope"], r["source"], r["active"]) for r in rows] == [
        ("marketing", "user_preferences", True)
    ]
    outcome, template = await notify(stack, account)
    assert outcome["outcome"] == "sent"
    assert template is not None

    await post(client, user_preferences(SHOPPER, "resume"))
    [row] = await stack.rows("wa_opt_outs", account_id=account)
    assert row["active"] is False or row["active"] == 0


async def test_undeliverable_is_signalled_once_per_conversation(
    stack: Stack, client: AppClient
) -> None:
    account = new_id()
    await stack.enable(account)
    outcome, template = await notify(stack, account)
    assert template is not None
    shipment = outcome["shipment_id"]
    failed = statuses_body([status(template.message_id, "failed", error_code=131026)])

    await post(client, failed)
    await post(client, failed)  # Meta delivers webhooks at least once

    async def failure_seen() -> bool:
        events = await stack.activity(shipment)
        return any(e["kind"] == "status" and e["outcome"] == "failed" for e in events)

    await stack.wait_for(failure_seen, what="the failed status event")

    async def signalled() -> bool:
        return len(await signals(stack, shipment)) >= 1

    await stack.wait_for(signalled, what="whatsapp_unreachable")
    [signal] = await signals(stack, shipment)
    assert signal["detail"] == "undeliverable"
    assert signal["error"]["code"] == 131026
    assert signal["conversation_id"] == outcome["conversation_id"]
    assert len(await stack.rows("wa_unreachable_signals", shipment_id=shipment)) == 1


async def test_a_follow_up_meta_refuses_for_an_unreachable_number_signals_once(
    stack: Stack, client: AppClient
) -> None:
    """As a template refused at its send does (docs/opt-out.md): whichever message finds out."""
    account = new_id()
    await stack.enable(account)
    outcome, template = await notify(stack, account, UNREACHED_NATIONAL)
    assert template is not None
    shipment = outcome["shipment_id"]
    stack.meta.fail_sends_to("+91" + UNREACHED_NATIONAL, 131026, times=2)
    [payload] = [
        component["parameters"][0]["payload"]
        for component in template.body["template"]["components"]
        if component["type"] == "button"
        and component["parameters"][0]["payload"].endswith(":alt_number")
    ]

    # Two follow-ups, each refused: a nudge to use the buttons, then the ask for a number.
    await post(client, text_message("91" + UNREACHED_NATIONAL, "what is this about?"))
    await post(client, button_tap(SHOPPER_OF_UNREACHED, template.message_id, payload, "date"))
    refused = [
        row
        for row in await stack.rows(
            "wa_outgoing_messages", conversation_id=outcome["conversation_id"]
        )
        if row["client_ref"].startswith("reply:")
    ]
    assert [(row["status"], row["error_code"]) for row in refused] == [("failed", 131026)] * 2

    async def told() -> bool:  # both failures reached the timeline, and a signal
        events = await stack.activity(shipment)
        failed = [e for e in events if e["kind"] == "status" and e["outcome"] == "failed"]
        return len(failed) == 2 and any(e["outcome"] == "whatsapp_unreachable" for e in events)

    await stack.wait_for(told, what="both failures and whatsapp_unreachable")
    [signal] = await signals(stack, shipment)
    assert (signal["detail"], signal["error"]["code"]) == ("undeliverable", 131026)
    assert signal["conversation_id"] == outcome["conversation_id"]
    assert len(await stack.rows("wa_unreachable_signals", shipment_id=shipment)) == 1


async def test_the_portal_lists_and_clears_only_its_own_opt_outs(
    stack: Stack, client: AppClient
) -> None:
    account, other = new_id(), new_id()
    await stack.enable(account)
    await notify(stack, account)
    await write(stack, client, "STOP")

    response = await client.get(api(account, "/opt-outs"), headers=bearer(account))
    assert response.status_code == 200
    [listed] = response.json()["items"]
    assert listed["customerPhone"] == "********0042"
    assert (listed["scope"], listed["source"]) == ("all", "text")
    assert response.json()["nextCursor"] is None

    # Another workspace neither sees nor clears it.
    response = await client.get(api(other, "/opt-outs"), headers=bearer(other))
    assert response.json()["items"] == []
    path = f"/opt-outs/{listed['id']}"
    response = await client.delete(api(other, path), headers=bearer(other))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    response = await client.delete(api(account, path), headers=bearer(other))
    assert response.status_code == 403
    response = await client.get(api(account, "/opt-outs?limit=0"), headers=bearer(account))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")

    response = await client.delete(api(account, path), headers=bearer(account))
    assert response.status_code == 204
    response = await client.get(api(account, "/opt-outs"), headers=bearer(account))
    assert response.json()["items"] == []
    _, template = await notify(stack, account)
    assert template is not None


async def test_the_console_shows_opt_outs_and_clears_one(stack: Stack, client: AppClient) -> None:
    account = new_id()
    await stack.enable(account)
    await notify(stack, account, CONSOLE_NATIONAL)
    await write(stack, client, "stop", CONSOLE_NATIONAL)
    client.cookies.clear()  # a new browser
    login = await client.get("/console/login")
    found = re.search(r'name="csrf" value="([^"]+)"', login.text)
    assert found is not None
    csrf = found.group(1)
    response = await client.post("/console/login", data={"csrf": csrf, "token": token(account)})
    assert response.status_code in (302, 303)

    listing = await client.get(f"/console/workspaces/{account}/conversations")
    link = re.search(rf'href="(/console/workspaces/{account}/conversations/\d+)"', listing.text)
    assert link is not None
    timeline = await client.get(link.group(1))
    assert "opted out: no more templates" in timeline.text
    assert "not get any more WhatsApp messages" in timeline.text  # our confirmation

    page = await client.get(f"/console/workspaces/{account}/opt-outs")
    assert page.status_code == 200
    assert "********0044" in page.text
    assert CONSOLE_NATIONAL not in page.text
    action = re.search(r'action="([^"]+/clear)"', page.text)
    assert action is not None

    forged = await client.post(action.group(1), data={"csrf": "forged"})
    assert forged.status_code == 403
    cleared = await client.post(action.group(1), data={"csrf": csrf})
    assert cleared.status_code == 303
    page = await client.get(cleared.headers["location"])
    assert "cleared" in page.text
    assert "********0044" not in page.text
    _, template = await notify(stack, account, CONSOLE_NATIONAL)
    assert template is not None
