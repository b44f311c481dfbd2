"""The tracking link with no customer portal configured, in headless Chromium on a phone-sized
screen: the built-in stand-in shows the shipment, the shopper sends a new address and the ESB
gets exactly one ``update_address``; an unknown shipment or a wrong reference is a small HTML
page. Screenshots land in var/screenshots/."""

from __future__ import annotations

import json

from playwright.async_api import Browser

from tests.conftest import new_id
from tests.support.browser import PHONE, watched_page
from tests.support.stack import PUBLIC_BASE_URL, Stack, fdr_event, stack_fixture

NEW_ADDRESS = "Flat 4B, Lake View Apartments, Sector 21, Gurugram 122016"


# No WA_PORTAL_TRACKING_URL: the links open the built-in stand-in.
stack = stack_fixture(portal_tracking_url=None)


async def _tracking_link(stack: Stack) -> tuple[int, str]:
    """An address-issue template sent by the worker; (shipment id, the path of its link)."""
    account = new_id()
    await stack.enable(account)
    event = fdr_event("address_issue", account_id=account)
    event["response_data"]["trackingDomain"] = None  # no brand page to send the shopper to
    shipment = int(event["response_data"]["id"])
    await stack.publish(event)

    async def sent() -> bool:
        found = await stack.rows("wa_conversations", shipment_id=shipment)
        return bool(found) and found[0]["root_message_id"] is not None

    await stack.wait_for(sent, seconds=60, what="the address_issue template")
    [conversation] = await stack.rows("wa_conversations", shipment_id=shipment)
    [template] = await stack.rows("wa_outgoing_messages", conversation_id=conversation["id"])
    values = json.loads(template["payload"])["body_parameters"]
    [link] = [v for v in values if "/track/whatsapp/" in v]
    assert link == f"{PUBLIC_BASE_URL}/track/whatsapp/{shipment}?r={conversation['reply_ref']}"
    return shipment, link.removeprefix(PUBLIC_BASE_URL)


async def test_the_shopper_sends_a_new_address_on_the_stand_in(
    stack: Stack, site: str, browser: Browser
) -> None:
    shipment, path = await _tracking_link(stack)

    def addresses() -> list[str | None]:
        return [
            a.notification.address
            for a in stack.esb.actions
            if a.notification.shipment_id == shipment and a.notification.action == "update_address"
        ]

    async with watched_page(browser, viewport=PHONE) as phone:
        page = phone.page
        response = await page.goto(f"{site}{path}")
        assert response is not None
        assert response.status == 200
        assert "4980116095129" in await page.locator(".shipment").inner_text()
        await phone.fits_the_width()
        await phone.screenshot("tracking-page")

        await page.fill("#address", NEW_ADDRESS)
        async with page.expect_navigation():
            await page.click("form[aria-label='New address'] button[type=submit]")
        taken = page.locator(".taken")
        assert "the courier has your new address" in await taken.inner_text()
        await phone.fits_the_width()
        await phone.screenshot("tracking-page-address-sent")
        assert addresses() == [NEW_ADDRESS]  # asked before the page answered

        # Opened again (or sent twice): the answer is there, nothing is asked again.
        await page.goto(f"{site}{path}")
        assert "We have your new address" in await page.locator(".taken").inner_text()
        assert await page.locator("form[aria-label='New address']").count() == 0
        assert phone.errors == []
    assert addresses() == [NEW_ADDRESS]
    [conversation] = await stack.rows("wa_conversations", shipment_id=shipment)
    assert conversation["state"] == "resolved"
    [action] = await stack.rows("wa_ndr_actions", conversation_id=conversation["id"])
    assert (action["kind"], action["state"]) == ("update_address", "done")


async def test_an_unknown_shipment_or_a_wrong_reference_is_a_small_page(
    stack: Stack, site: str, browser: Browser
) -> None:
    shipment, path = await _tracking_link(stack)
    async with watched_page(browser, viewport=PHONE) as phone:
        page = phone.page
        for url in (
            f"{site}/track/whatsapp/{new_id()}?r=0123456789abcdef",
            f"{site}/track/whatsapp/{shipment}?r=0123456789abcdef",  # a guessed reference
            f"{site}/track/whatsapp/{shipment}",  # none: the stand-in needs the link's
        ):
            response = await page.goto(url)
            assert response is not None
            assert response.status == 404
            assert response.headers["content-type"].startswith("text/html")
            assert await page.locator("h1").inner_text() == "We could not find this delivery"
        await phone.fits_the_width()
        await phone.screenshot("tracking-page-not-found")
        assert phone.errors == []
    assert path  # the real link still works
    assert not [a for a in stack.esb.actions if a.notification.shipment_id == shipment]
