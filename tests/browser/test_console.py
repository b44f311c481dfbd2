"""The operator console in a real headless Chromium, over the whole stack: a conversation made
by the worker and the shopper's tap, then logged in with a portal token, listed, filtered and
opened as the shopper saw it. Screenshots land in var/screenshots/."""

from __future__ import annotations

from playwright.async_api import Browser, Page

from tests.integration.test_ndr_conversation import Thread, start
from tests.integration.test_shipment_outcomes import shipment_event
from tests.support.app import AppClient
from tests.support.browser import PHONE, watched_page
from tests.support.meta_webhooks import status, statuses_body
from tests.support.portal import SECRET, token
from tests.support.stack import Stack, fdr_event, stack_fixture

stack = stack_fixture(auth_jwt_secret=SECRET)


async def _ticked(thread: Thread) -> None:
    """Meta's ticks for the template: sent, delivered, read."""
    wamid = thread.template.message_id
    await thread.post(statuses_body([status(wamid, s) for s in ("sent", "delivered", "read")]))


async def _conversation_id(stack: Stack, shipment_id: int) -> int:
    [row] = await stack.rows("wa_conversations", shipment_id=shipment_id)
    return int(row["id"])


async def _second_conversation(stack: Stack, account: int, reason: str) -> int:
    """Another failed delivery of the workspace, sent by the worker; its shipment id."""
    event = fdr_event(reason, account_id=account)
    shipment = int(event["response_data"]["id"])
    await stack.publish(event)

    async def sent() -> bool:
        return bool(await stack.rows("wa_conversations", shipment_id=shipment))

    await stack.wait_for(sent, seconds=60, what=f"the {reason} conversation")
    return shipment


async def _go(page: Page, selector: str) -> None:
    """Clicks what leaves the page (a link, a form's button) and waits for the next one: a
    click returns once the navigation has started, and what is read then may still be the
    old page, or a new one not yet parsed."""
    async with page.expect_navigation():
        await page.click(selector)


async def _log_in(page: Page, site: str, account: int | str) -> None:
    await page.goto(f"{site}/console/workspaces/{account}/conversations")
    assert page.url.endswith("/console/login")
    await page.fill("#token", token(account))
    await _go(page, "button[type=submit]")


async def test_an_operator_logs_in_lists_filters_and_reads_a_conversation(
    stack: Stack, client: AppClient, site: str, browser: Browser
) -> None:
    cancelled = await start(stack, client, "otp_cancellation")
    account = cancelled.account_id
    await _ticked(cancelled)
    await cancelled.tap("confirm_cancel", "Confirm cancel")
    [action] = cancelled.actions()
    await stack.enable(account)
    other = await start(stack, client, "address_issue")
    elsewhere = await _conversation_id(stack, other.shipment_id)  # another workspace's
    refused = await _second_conversation(stack, account, "refused")
    cancelled_id = await _conversation_id(stack, cancelled.shipment_id)
    # The courier returns the parcel, as the shopper asked: the outcome, honoured.
    [attempt] = await stack.rows("wa_conversations", shipment_id=cancelled.shipment_id)
    log = int(attempt["shipment_status_log_id"])
    await stack.publish(shipment_event("rto_initiated", cancelled, log + 1))

    async def returned() -> bool:
        found = await stack.rows("wa_conversation_outcomes", shipment_id=cancelled.shipment_id)
        return [o["outcome"] for o in found] == ["rto"]

    await stack.wait_for(returned, seconds=60, what="the RTO outcome")

    async with watched_page(browser) as watched:
        page = watched.page
        await _log_in(page, site, account)
        assert page.url.endswith(f"/console/workspaces/{account}/conversations")
        [cookie] = [c for c in await page.context.cookies() if c["name"] == "fdr_console"]
        assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
        cards = page.locator(".conversation")
        assert await cards.count() == 2
        outcomes = await page.locator(".conversation .outcome").all_inner_texts()
        assert sorted(" ".join(o.split()) for o in outcomes) == [
            "Outcome: RTO on 2099-01-05 05:30 UTC · courier's next event: rto initiated "
            "· honoured: yes",
            "Outcome: pending · courier's next event: none yet · honoured: n/a",
        ]
        await watched.screenshot("console-conversations")

        await page.select_option("#reason", "otp_cancellation")
        await _go(page, "form.filters button[type=submit]")
        assert await cards.count() == 1
        assert "otp cancellation" in await cards.first.inner_text()
        await page.select_option("#reason", "")
        await page.select_option("#state", "resolved")
        await _go(page, "form.filters button[type=submit]")
        assert await cards.count() == 1
        await page.select_option("#state", "")
        # What the shopper chose: the cancellation they confirmed, or nothing yet.
        await page.select_option("#answer", "cancel")
        await _go(page, "form.filters button[type=submit]")
        assert await cards.count() == 1
        assert "otp cancellation" in await cards.first.inner_text()
        await page.select_option("#answer", "no_answer")
        await _go(page, "form.filters button[type=submit]")
        assert await cards.count() == 1
        assert "refused" in await cards.first.inner_text()
        await watched.screenshot("console-conversations-no-answer")
        await page.select_option("#answer", "")
        await page.fill("#shipment", str(refused))
        await _go(page, "form.filters button[type=submit]")
        assert "refused" in await cards.first.inner_text()
        assert await cards.count() == 1

        await page.goto(f"{site}/console/workspaces/{account}/conversations")
        await _go(page, f"a[href$='/conversations/{cancelled_id}']")
        timeline = await page.locator(".timeline").inner_text()
        kinds = await page.locator(".timeline > li").evaluate_all(
            "items => items.map(i => i.classList[2])"
        )
        assert kinds[:3] == ["message", "answer", "action"]  # the template, the tap, the ESB
        # The template as the shopper read it: the values filled in, its buttons.
        [body] = [
            c for c in cancelled.template.body["template"]["components"] if c["type"] == "body"
        ]
        values = [p["text"] for p in body["parameters"]]
        assert values[0] in timeline  # the first name
        assert values[2] in timeline  # the order number
        assert "{{" not in timeline
        buttons = await page.locator(".message .buttons span").all_inner_texts()
        assert buttons[:2] == ["I didn't cancel", "Confirm cancel"]
        ticks = await page.locator(".message .ticks li").all_inner_texts()
        assert [t.split()[1] for t in ticks] == ["sent", "delivered", "read"]
        assert "Confirm cancel" in await page.locator(".answer .bubble").first.inner_text()
        esb = await page.locator(".action").inner_text()
        assert action.action == "cancel"
        assert "cancel" in esb
        assert "done" in esb
        [sent] = [a for a in stack.esb.actions if a.notification is action]
        assert sent.reference in esb  # the ESB's answer
        outcome = " ".join((await page.locator(".card .outcome").inner_text()).split())
        assert outcome.startswith("Outcome: RTO on 2099-01-05")
        assert outcome.endswith("courier's next event: rto initiated · honoured: yes")
        await watched.screenshot("console-conversation")

        await _go(page, "text=All conversations")
        await _go(page, "a[href$='/funnel']")
        assert await page.locator("section.funnel").count() == 3  # all, otp_cancellation, refused
        bars = page.locator("section.funnel[aria-label=otp_cancellation] svg text")
        labels = await bars.all_text_contents()
        assert labels[labels.index("sent") + 1] == "1"  # the template Meta accepted
        await watched.screenshot("console-funnel")

        response = await page.goto(f"{site}/console/workspaces/{account}/conversations/{elsewhere}")
        assert response is not None
        assert response.status == 404
        assert "Not found" in await page.locator("h1").inner_text()
        await watched.screenshot("console-not-found")
        response = await page.goto(f"{site}/console/workspaces/{other.account_id}/conversations")
        assert response is not None
        assert response.status == 403
        assert watched.errors == []

    async with watched_page(browser, viewport=PHONE) as phone:
        await _log_in(phone.page, site, account)
        await phone.fits_the_width()
        await phone.page.goto(f"{site}/console/workspaces/{account}/conversations/{cancelled_id}")
        await phone.fits_the_width()
        await phone.screenshot("console-conversation-phone")
        await phone.page.goto(f"{site}/console/workspaces/{account}/funnel")
        await phone.fits_the_width()
        await phone.screenshot("console-funnel-phone")
        assert phone.errors == []


async def test_a_bad_token_stays_on_the_login_page(site: str, browser: Browser) -> None:
    async with watched_page(browser) as watched:
        await watched.page.goto(f"{site}/console/login")
        await watched.page.fill("#token", "not-a-token")
        await _go(watched.page, "button[type=submit]")
        assert "/console/login" in watched.page.url
        assert await watched.page.locator("[role=alert]").count() == 1
        await watched.screenshot("console-login-refused")
        assert watched.errors == []
