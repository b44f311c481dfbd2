"""The new address a shopper sends on the tracking page's stand-in (docs/console.md): the ESB
fake gets it once, it is kept with the action, and the workspace sees it in the portal API's
thread and on the console's timeline, with no log line carrying it. MariaDB, the Pub/Sub
emulator, the Meta and ESB fakes, the app in-process."""

from __future__ import annotations

import json
import re

import structlog

from tests.conftest import new_id
from tests.support.app import AppClient
from tests.support.portal import SECRET, api, bearer, token
from tests.support.stack import PUBLIC_BASE_URL, Stack, fdr_event, stack_fixture

# Typed with line breaks and doubled spaces, a phone number in it (the courier may call).
TYPED = "Flat 4B,  Lake View Apartments\nSector 21, Gurugram 122016\ncall 98765 43210"
SENT = "Flat 4B, Lake View Apartments Sector 21, Gurugram 122016 call 98765 43210"
SHOWN = "Flat 4B, Lake View Apartments Sector 21, Gurugram 122016 call ***** *3210"

# No WA_PORTAL_TRACKING_URL: the links open the built-in stand-in.
stack = stack_fixture(portal_tracking_url=None, auth_jwt_secret=SECRET)


async def _tracking_link(stack: Stack) -> tuple[int, int, str]:
    """An address-issue template sent by the worker: (account, shipment, its link's path)."""
    account = new_id()
    await stack.enable(account)
    event = fdr_event("address_issue", account_id=account)
    event["response_data"]["trackingDomain"] = None  # no brand page to send the shopper to
    shipment = int(event["response_data"]["id"])
    await stack.publish(event)

    async def sent() -> bool:
        found = await stack.rows("wa_conversations", shipment_id=shipment)
        return bool(found) and found[0]["root_message_id"] is not None

    await stack.wait_for(sent, what="the address_issue template")
    [conversation] = await stack.rows("wa_conversations", shipment_id=shipment)
    [template] = await stack.rows("wa_outgoing_messages", conversation_id=conversation["id"])
    [link] = [
        v for v in json.loads(template["payload"])["body_parameters"] if "/track/whatsapp/" in v
    ]
    return account, shipment, link.removeprefix(PUBLIC_BASE_URL)


def _form(page: str) -> dict[str, str]:
    """The hidden fields of the page's address form."""
    form = page[page.index('aria-label="New address"') :]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)[:3])


async def test_the_new_address_reaches_the_esb_once_and_shows_in_the_thread(
    stack: Stack, client: AppClient
) -> None:
    account, shipment, path = await _tracking_link(stack)
    page = await client.get(path)
    assert page.status_code == 200
    fields = _form(page.text)
    assert fields["field"] == "address"

    with structlog.testing.capture_logs() as logs:
        first = await client.post(path, data={**fields, "address": TYPED})
        again = await client.post(path, data={**fields, "address": TYPED})  # sent twice
    assert first.status_code == 200, first.text
    assert "the courier has your new address" in first.text
    assert again.status_code == 200
    assert "We have your new address" in again.text
    for typed in (TYPED, SENT, "98765 43210"):
        assert typed not in repr(logs)

    asked = [a for a in stack.esb.actions if a.notification.shipment_id == shipment]
    assert [(a.notification.action, a.notification.address) for a in asked] == [
        ("update_address", SENT)
    ]
    [conversation] = await stack.rows("wa_conversations", shipment_id=shipment)
    assert asked[0].idempotency_key == f"fdr-whatsapp:ndr:{conversation['id']}:update_address"
    [stored] = await stack.rows("wa_ndr_actions", conversation_id=conversation["id"])
    assert (stored["kind"], stored["state"], stored["address"]) == ("update_address", "done", SENT)

    # The portal API's thread shows what the shopper asked for, the number in it masked.
    shown = await client.get(
        api(account, f"/conversations/{conversation['id']}"), headers=bearer(account)
    )
    assert shown.status_code == 200, shown.text
    actions = [i for i in shown.json()["thread"] if i["type"] == "action"]
    assert [(a["action"], a["address"], a["phone"], a["state"]) for a in actions] == [
        ("update_address", SHOWN, None, "done")
    ]

    # So does the console's timeline.
    client.cookies.clear()
    login = await client.get("/console/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
    assert csrf is not None
    signed_in = await client.post(
        "/console/login", data={"csrf": csrf.group(1), "token": token(account)}
    )
    assert signed_in.status_code in (302, 303)
    timeline = await client.get(f"/console/workspaces/{account}/conversations/{conversation['id']}")
    assert timeline.status_code == 200
    assert f'to <q class="address">{SHOWN}</q>' in timeline.text
    assert "98765 43210" not in timeline.text
