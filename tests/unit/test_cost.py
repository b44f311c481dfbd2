"""Meta's pricing read from status webhooks (the CBP and PMP shapes Meta has sent), and the
monthly counts built from it (docs/cost.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.cost import BilledMessage, MonthCost, month_start, monthly_costs
from infrastructure.meta.webhook import MetaWebhookFormat


def _body(*statuses: dict[str, Any]) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "1065403"},
        "statuses": list(statuses),
    }
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
        }
    ).encode()


def _status(state: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": "wamid.HBgMOTE3ODkxOTcxMDA5FQIAERgSQ0I2",
        "status": state,
        "timestamp": "1764115200",
        "recipient_id": "917891971009",
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (  # conversation-based, as Meta sent it until July 2025
            {
                "conversation": {
                    "id": "8eb644d2350611f3746e7f0985bddfc1",
                    "expiration_timestamp": "1673031000",
                    "origin": {"type": "utility"},
                },
                "pricing": {"billable": True, "pricing_model": "CBP", "category": "utility"},
            },
            (True, "CBP", "utility", "", "8eb644d2350611f3746e7f0985bddfc1"),
        ),
        (  # per message
            {
                "pricing": {
                    "billable": True,
                    "pricing_model": "PMP",
                    "type": "regular",
                    "category": "marketing",
                }
            },
            (True, "PMP", "marketing", "regular", None),
        ),
        (  # "billable" retired: the type decides
            {"pricing": {"pricing_model": "PMP", "type": "regular", "category": "utility"}},
            (True, "PMP", "utility", "regular", None),
        ),
        (
            {
                "pricing": {
                    "pricing_model": "PMP",
                    "type": "free_customer_service",
                    "category": "service",
                }
            },
            (False, "PMP", "service", "free_customer_service", None),
        ),
        (
            {"pricing": {"billable": False, "pricing_model": "CBP", "category": "referral"}},
            (False, "CBP", "referral", "", None),
        ),
        (  # the older categories, a number where Meta also sends a string
            {
                "conversation": {
                    "id": "c0ffee0d2350611f3746e7f0985bddfc",
                    "expiration_timestamp": 1673031000,
                    "origin": {"type": "business_initiated"},
                },
                "pricing": {
                    "billable": True,
                    "pricing_model": "CBP",
                    "category": "business_initiated",
                },
            },
            (True, "CBP", "business_initiated", "", "c0ffee0d2350611f3746e7f0985bddfc"),
        ),
        (  # a free click-to-WhatsApp conversation
            {
                "conversation": {"id": "ctwa-1", "origin": {"type": "referral_conversion"}},
                "pricing": {
                    "billable": False,
                    "pricing_model": "CBP",
                    "category": "referral_conversion",
                },
            },
            (False, "CBP", "referral_conversion", "", "ctwa-1"),
        ),
    ],
)
def test_the_pricing_of_a_status_is_read(fields: dict[str, Any], expected: tuple[Any, ...]) -> None:
    [update] = MetaWebhookFormat().decode(_body(_status("sent", **fields))).statuses
    pricing = update.pricing
    assert pricing is not None
    assert (
        pricing.billable,
        pricing.model,
        pricing.category,
        pricing.type,
        pricing.conversation_id,
    ) == expected


def test_pricing_on_a_played_tick_counts_and_on_a_status_we_do_not_keep_is_dropped() -> None:
    cbp = {"billable": True, "pricing_model": "CBP", "category": "service"}
    body = _body(
        _status("played", pricing=cbp, conversation={"id": "svc-1"}),
        _status("deleted", pricing=cbp, conversation={"id": "svc-1"}),
    )
    [played] = MetaWebhookFormat().decode(body).statuses
    assert played.status.value == "read"
    assert played.pricing is not None
    assert (played.pricing.billable, played.pricing.conversation_id) == (True, "svc-1")


def test_a_status_without_pricing_has_none() -> None:
    [update] = MetaWebhookFormat().decode(_body(_status("read"))).statuses
    assert update.pricing is None


def _billed(
    message: str, model: str, at: datetime, conversation: str | None = None
) -> BilledMessage:
    return BilledMessage(
        message_id=message,
        pricing_model=model,
        category="utility",
        conversation_id=conversation,
        first_at=at,
    )


def test_months_count_each_message_once_and_each_conversation_where_it_began() -> None:
    october, november = (
        datetime(2026, 10, 31, 23, 59, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
    )
    costs = monthly_costs(
        [
            _billed("a", "CBP", october, "c1"),
            _billed("b", "CBP", november, "c1"),  # the same conversation, next month
            _billed("c", "CBP", november, "c2"),
            _billed("d", "PMP", november),
        ]
    )
    assert costs == [
        MonthCost(
            month="2026-10",
            pricing_model="CBP",
            category="utility",
            billable_messages=1,
            billable_conversations=1,
        ),
        MonthCost(
            month="2026-11",
            pricing_model="CBP",
            category="utility",
            billable_messages=2,
            billable_conversations=1,
        ),
        MonthCost(
            month="2026-11",
            pricing_model="PMP",
            category="utility",
            billable_messages=1,
            billable_conversations=0,
        ),
    ]


def test_the_cap_month_is_the_utc_calendar_month() -> None:
    assert month_start(datetime(2026, 11, 26, 1, 50, tzinfo=UTC)) == datetime(
        2026, 11, 1, tzinfo=UTC
    )
