"""Meta's webhook bodies decoded: the fields the service acts on, from Meta's own examples."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from infrastructure.meta.webhook import MetaWebhookFormat
from infrastructure.meta.webhook_builder import status, statuses_body, template_status
from tests.conftest import FIXTURES

WEBHOOKS = FIXTURES / "meta-webhooks"


def test_a_template_status_update_names_the_template_its_account_and_why() -> None:
    parsed = MetaWebhookFormat().decode((WEBHOOKS / "template-status-update.json").read_bytes())

    [change] = parsed.template_changes
    assert change.waba_id == "102290129340398"
    assert change.meta_template_id == "1689556908129835"  # an integer in Meta's JSON
    assert (change.name, change.language) == ("abandoned_cart", "en")
    assert (change.event, change.reason) == ("REJECTED", "INVALID_FORMAT")
    assert change.stops_sending
    assert parsed.other_fields == ()
    assert parsed.statuses == ()
    assert parsed.messages == ()


def test_a_pause_says_which_pause_and_an_approval_does_not_stop_sending() -> None:
    decode = MetaWebhookFormat().decode
    [paused] = decode(
        template_status(7, "PAUSED", name="fdr_refused", pause_title="SECOND_PAUSE")
    ).template_changes
    [approved] = decode(template_status(7, "APPROVED", name="fdr_refused")).template_changes
    [flagged] = decode(template_status(7, "FLAGGED", name="fdr_refused")).template_changes

    assert (paused.event, paused.reason, paused.stops_sending) == ("PAUSED", "SECOND_PAUSE", True)
    assert (approved.reason, approved.stops_sending) == (None, False)
    assert not flagged.stops_sending  # a warning: the template still sends


def test_a_template_update_without_an_id_is_passed_over_not_fatal() -> None:
    body = json.loads(template_status(7, "PAUSED", name="x"))
    del body["entry"][0]["changes"][0]["value"]["message_template_id"]

    parsed = MetaWebhookFormat().decode(json.dumps(body).encode())

    assert parsed.template_changes == ()


def test_fields_the_service_does_not_act_on_are_named_for_the_log() -> None:
    body = json.loads(template_status(7, "PAUSED", name="x"))
    body["entry"][0]["changes"][0]["field"] = "phone_number_quality_update"

    parsed = MetaWebhookFormat().decode(json.dumps(body).encode())

    assert parsed.other_fields == ("phone_number_quality_update",)
    assert parsed.template_changes == ()


def test_statuses_sharing_a_second_and_a_price_each_keep_their_own_values() -> None:
    """A body's statuses repeat Meta's seconds and prices (each is made once per body): each
    status still reads as its own, and one whose time does not read is a problem of its own
    every time, not of the statuses after it."""
    utility = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}

    def tick(n: int, timestamp: str, **fields: object) -> dict[str, object]:
        entry = status(f"wamid.S{n}", "sent", recipient="919800000001", timestamp=timestamp)
        return {**entry, **fields}

    parsed = MetaWebhookFormat().decode(
        statuses_body(
            [
                tick(0, "1795718728", pricing=utility),
                tick(1, "soon", pricing=utility),
                tick(2, "1795718728", pricing=utility, conversation={"id": "c2"}),
                tick(3, "soon"),
                tick(4, "1795718729", pricing={**utility, "type": "free_customer_service"}),
                tick(5, "1795718728", pricing=utility),
            ]
        )
    )

    assert [s.message_id for s in parsed.statuses] == [
        "wamid.S0",
        "wamid.S2",
        "wamid.S4",
        "wamid.S5",
    ]
    assert [p.element[-11:] for p in parsed.problems] == ["statuses[1]", "statuses[3]"]
    first, other_conversation, free, same = parsed.statuses
    assert first.timestamp == same.timestamp == datetime.fromtimestamp(1795718728, UTC)
    assert free.timestamp == datetime.fromtimestamp(1795718729, UTC)
    assert first.pricing == same.pricing
    assert first.pricing is not None
    assert first.pricing.conversation_id is None
    assert other_conversation.pricing is not None
    assert other_conversation.pricing.conversation_id == "c2"
    assert free.pricing is not None
    assert (free.pricing.type, free.pricing.billable) == ("free_customer_service", True)
