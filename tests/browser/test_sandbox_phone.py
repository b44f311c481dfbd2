"""The sandbox phone in headless Chromium: the shopper taps "Choose new date", then a date; the
confirmation appears without a reload and the ESB gets exactly one reschedule."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from playwright.async_api import Browser

from composition.container import build_container
from entrypoints.http.app import create_app
from tests.conftest import new_id
from tests.support.browser import PHONE, served, watched_page
from tests.support.portal import SECRET, portal_env, token
from tests.support.stack import Stack, fdr_event, stack_fixture

stack = stack_fixture(auth_jwt_secret=SECRET, meta_sandbox=True)


@pytest_asyncio.fixture(loop_scope="session")
async def site(stack: Stack) -> AsyncIterator[str]:
    async with served(create_app(build_container(stack.config))) as url:
        yield url


async def _sent_conversation(stack: Stack, account: int, reason: str) -> tuple[int, int]:
    """An FDR event through the worker to the sandbox; (conversation id, shipment id)."""
    await stack.enable(account)
    event = fdr_event(reason, account_id=account)
    shipment = int(event["response_data"]["id"])
    await stack.publish(event)

    async def sent() -> bool:
        found = await stack.rows("wa_conversations", shipment_id=shipment)
        if not found:
            return False
        messages = await stack.rows("wa_outgoing_messages", conversation_id=found[0]["id"])
        return any(m["message_id"] for m in messages)

    await stack.wait_for(sent, seconds=60, what=f"the {reason} template")
    [conversation] = await stack.rows("wa_conversations", shipment_id=shipment)
    return int(conversation["id"]), shipment


async def test_a_date_tapped_on_the_phone_reschedules_once(
    stack: Stack, site: str, browser: Browser
) -> None:
    account = new_id()
    conversation, shipment = await _sent_conversation(stack, account, "customer_unavailable")
    async with watched_page(browser, viewport=PHONE) as phone:
        page = phone.page
        await page.goto(f"{site}/console/login")
        await page.fill("#token", token(account))
        async with page.expect_navigation():
            await page.click("button[type=submit]")
        await page.goto(f"{site}/console/workspaces/{account}/conversations/{conversation}")
        async with page.expect_navigation():  # the click returns when it has only started
            await page.click("text=Sandbox phone")
        assert page.url.endswith("/phone")
        await phone.fits_the_width()
        await phone.screenshot("sandbox-phone-template")

        await page.click("button.tap:has-text('Choose new date')")
        # The dates arrive without a reload: the page polls its chat.
        dates = page.locator(".msg.theirs").nth(1).locator("button.tap")  # after the template
        await dates.first.wait_for(timeout=60_000)
        assert await dates.count() >= 2
        chosen = (await dates.nth(1).inner_text()).strip()
        await dates.nth(1).click()
        confirmation = page.locator(".msg.theirs .bubble", has_text="rescheduled")
        await confirmation.wait_for(timeout=60_000)
        assert chosen in await page.locator(".msg.mine").last.inner_text()
        await phone.fits_the_width()
        await phone.screenshot("sandbox-phone-rescheduled")
        assert phone.errors == []

    def reschedules() -> list[str]:
        return [
            a.notification.action
            for a in stack.esb.actions
            if a.notification.shipment_id == shipment
        ]

    async def acted() -> bool:
        return bool(reschedules())

    await stack.wait_for(acted, seconds=60, what="the reschedule")
    assert reschedules() == ["reschedule"]


async def test_outside_the_sandbox_there_is_no_phone(mysql_url: str) -> None:
    async with portal_env(mysql_url) as env:  # meta_sandbox off
        env.client.cookies.set("fdr_console", token(1))
        page = await env.client.get("/console/workspaces/1/conversations/1/phone")
        assert page.status_code == 404
