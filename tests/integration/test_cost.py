"""What WhatsApp costs a workspace, over the emulator, MariaDB, Redis and the Meta fake: Meta's
pricing on status webhooks counted per month and category in the portal stats, and the
optional monthly cap that skips templates (docs/cost.md)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from tests.conftest import new_id
from tests.fakes.meta import RecordedSend
from tests.support.app import AppClient
from tests.support.meta_webhooks import signed, status, statuses_body
from tests.support.portal import SECRET, api, bearer
from tests.support.stack import APP_SECRET, Stack, fdr_event, stack_fixture

PMP_UTILITY = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}
CBP_UTILITY = {"billable": True, "pricing_model": "CBP", "category": "utility"}
FREE = {"pricing_model": "PMP", "type": "free_customer_service", "category": "service"}


stack = stack_fixture(auth_jwt_secret=SECRET)


async def _event(stack: Stack, account: int) -> tuple[dict[str, Any], RecordedSend | None]:
    outcome, sends = await stack.handled(fdr_event("otp_cancellation", account_id=account))
    sent = [r for r in sends if r.body.get("type") == "template"]
    return outcome, sent[0] if sent else None


async def _post(client: AppClient, entries: list[dict[str, Any]]) -> None:
    body = statuses_body(entries)
    response = await client.post(
        "/webhooks/whatsapp", content=body, headers=signed(body, APP_SECRET)
    )
    assert response.status_code == 200
    await client.app.state.webhook_pump.drain()


def _priced(message_id: str, state: str, pricing: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**status(message_id, state), "pricing": pricing, **extra}


async def test_the_stats_count_billable_messages_and_conversations_per_month_and_category(
    stack: Stack, client: AppClient
) -> None:
    account = new_id()
    await stack.enable(account)
    _, first = await _event(stack, account)
    _, second = await _event(stack, account)
    _, third = await _event(stack, account)
    assert first
    assert second
    assert third
    conversation = {"id": f"conv-{new_id()}", "origin": {"type": "utility"}}
    # Every tick at one moment, whose month (UTC) the stats must show: near the turn of a
    # month the clock would otherwise decide which one.
    at = int(time.time())
    month = datetime.fromtimestamp(at, UTC).strftime("%Y-%m")
    entries = [
        # Per message: priced on "sent" and again on "delivered", charged once.
        _priced(first.message_id, "sent", PMP_UTILITY),
        _priced(first.message_id, "delivered", PMP_UTILITY),
        status(first.message_id, "read"),
        # Per conversation (before July 2025), the conversation named.
        _priced(second.message_id, "sent", CBP_UTILITY, conversation=conversation),
        _priced(second.message_id, "delivered", CBP_UTILITY, conversation=conversation),
        # Free (no "billable": the type says it), and a message that is not ours.
        _priced(third.message_id, "sent", FREE),
        _priced(f"wamid.other{new_id()}", "sent", PMP_UTILITY),
    ]
    await _post(client, [{**entry, "timestamp": str(at)} for entry in entries])

    response = await client.get(api(account, "/stats"), headers=bearer(account))

    assert response.status_code == 200, response.text
    assert response.json()["cost"] == [
        {
            "month": month,
            "pricingModel": "CBP",
            "category": "utility",
            "billableMessages": 1,
            "billableConversations": 1,
        },
        {
            "month": month,
            "pricingModel": "PMP",
            "category": "utility",
            "billableMessages": 1,
            "billableConversations": 0,
        },
    ]
    other = await client.get(api(new_id(), "/stats"), headers=bearer("*"))
    assert other.json()["cost"] == []


async def test_past_the_monthly_cap_templates_are_skipped_with_an_activity_event(
    stack: Stack,
) -> None:
    account = new_id()
    await stack.enable(account, monthly_template_cap=2)
    for _ in range(2):
        outcome, sent = await _event(stack, account)
        assert outcome["outcome"] == "sent"
        assert sent is not None

    outcome, sent = await _event(stack, account)

    assert sent is None
    assert outcome["outcome"] == "skipped"
    assert outcome["detail"] == "budget: monthly cap of 2 templates reached"

    async def published() -> bool:
        return bool(await stack.activity(outcome["shipment_id"]))

    await stack.wait_for(published, what="the skip's activity event")
    [event] = await stack.activity(outcome["shipment_id"])
    assert event["outcome"] == "skipped"
    assert event["detail"].startswith("budget:")
