"""The outcome rules: which event decides, what honours the shopper's choice, and the brand's
tracking host."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from prometheus_client import REGISTRY

from application.ports.shipment_events import NotFailedDelivery
from application.use_cases.track_link_click import tracking_page
from domain.ndr import NdrAction, NdrActionKind, NdrActionState
from domain.outcomes import (
    NO_ANSWER,
    SHIPPED_NAMES,
    ShipmentEvent,
    ShipmentEventKind,
    ShipmentOutcome,
    judge,
    window,
)
from infrastructure.events.intake_metrics import count_unmapped
from infrastructure.events.shipment_event import decode_shipment_event, tracking_domain
from tests.conftest import FIXTURES

ASKED = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
K = ShipmentEventKind


def event(log: int, kind: ShipmentEventKind, at: datetime | None = None) -> ShipmentEvent:
    return ShipmentEvent(shipment_id=1, status_log_id=log, kind=kind, happened_at=at)


def action(kind: NdrActionKind, day: date | None = None, done: bool = True) -> NdrAction:
    return NdrAction(
        conversation_id=1,
        account_id=1,
        shipment_id=1,
        kind=kind,
        reply_message_id="wamid.x",
        delivery_date=day,
        state=NdrActionState.DONE if done else NdrActionState.FAILED,
        created_at=ASKED,
        updated_at=ASKED,
    )


def test_the_first_final_event_in_order_decides_whatever_the_arrival() -> None:
    events = window(10, None, [event(30, K.RTO_DELIVERED), event(20, K.FAILED_ATTEMPT)])
    verdict = judge(events, [])
    assert verdict.outcome is ShipmentOutcome.RTO
    assert verdict.outcome_status_log_id == 30
    assert verdict.next_event is K.FAILED_ATTEMPT
    assert (verdict.answer, verdict.honoured) == (NO_ANSWER, None)


def test_a_window_ends_at_the_next_notified_attempt() -> None:
    events = [event(20, K.FAILED_ATTEMPT), event(30, K.DELIVERED), event(5, K.DELIVERED)]
    assert [e.status_log_id for e in window(10, 20, events)] == [20]
    assert judge(window(10, 20, events), []).outcome is ShipmentOutcome.FAILED_AGAIN
    assert judge(window(20, None, events), []).outcome is ShipmentOutcome.DELIVERED


def test_a_reschedule_followed_by_an_attempt_before_the_date_is_not_honoured() -> None:
    chosen = action(NdrActionKind.RESCHEDULE, date(2026, 11, 23))
    early = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    on_the_day = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)  # 23 Nov, 00:30 in India
    assert judge([event(20, K.FAILED_ATTEMPT, early)], [chosen]).honoured is False
    assert judge([event(20, K.FAILED_ATTEMPT, on_the_day)], [chosen]).honoured is True
    assert judge([event(20, K.DELIVERED, early)], [chosen]).honoured is True


@pytest.mark.parametrize(
    ("kind", "next_kind", "honoured"),
    [
        (NdrActionKind.REATTEMPT, K.FAILED_ATTEMPT, True),
        (NdrActionKind.REATTEMPT, K.RTO_INITIATED, False),  # the reattempt never came
        (NdrActionKind.UPDATE_PHONE, K.CANCELLED, False),
        (NdrActionKind.CANCEL, K.RTO_INITIATED, True),
        (NdrActionKind.CANCEL, K.DELIVERED, False),
    ],
)
def test_what_honours_each_choice(
    kind: NdrActionKind, next_kind: ShipmentEventKind, honoured: bool
) -> None:
    after = datetime(2026, 11, 21, tzinfo=UTC)
    assert judge([event(20, next_kind, after)], [action(kind)]).honoured is honoured


def test_no_judgement_for_an_action_not_taken_or_events_before_the_answer() -> None:
    later = [event(20, K.RTO_INITIATED, datetime(2026, 11, 21, tzinfo=UTC))]
    assert judge(later, [action(NdrActionKind.REATTEMPT, done=False)]).honoured is None
    before = [event(20, K.RTO_INITIATED, datetime(2026, 11, 19, tzinfo=UTC))]
    assert judge(before, [action(NdrActionKind.REATTEMPT)]).honoured is None


def _event(sub_type: str, status: str | None = None) -> bytes:
    data = json.loads((FIXTURES / "fdr-event-otp-cancellation.json").read_bytes())
    data["eventSubType"] = sub_type
    data["response_data"]["status"] = status or sub_type
    return json.dumps(data).encode()


def test_the_kinds_of_shipment_event_that_are_outcomes() -> None:
    decoded = decode_shipment_event(_event("delivered"))
    assert isinstance(decoded, ShipmentEvent)
    assert (decoded.kind, decoded.shipment_id, decoded.status_log_id) == (
        K.DELIVERED,
        17148471,
        124953537,
    )
    assert isinstance(decode_shipment_event(_event("RTO-Delivered")), ShipmentEvent)
    assert isinstance(decode_shipment_event(_event("intransit")), NotFailedDelivery)
    assert isinstance(decode_shipment_event(_event("", "cancelled")), ShipmentEvent)


def test_a_name_the_wms_uses_for_rto_can_be_configured_and_is_counted_until_it_is() -> None:
    def unmapped(name: str) -> float:
        found = REGISTRY.get_sample_value("shipment_events_unmapped_total", {"name": name})
        return found or 0.0

    before = unmapped("rto_ofd")
    shipped = decode_shipment_event(_event("RTO-OFD"))
    assert isinstance(shipped, NotFailedDelivery)
    assert shipped.unmapped == "rto_ofd"
    count_unmapped(shipped)
    assert unmapped("rto_ofd") == before + 1

    names = SHIPPED_NAMES.with_extra({"RTO-OFD": K.RTO_INITIATED})
    configured = decode_shipment_event(_event("RTO-OFD"), names)
    assert isinstance(configured, ShipmentEvent)
    assert configured.kind is K.RTO_INITIATED
    assert isinstance(decode_shipment_event(_event("delivered"), names), ShipmentEvent)


def test_the_brand_tracking_host_is_a_plain_host_or_nothing() -> None:
    assert tracking_domain("Track.Scitron.com") == "track.scitron.com"
    assert tracking_domain("https://track.scitron.com/") == "track.scitron.com"
    for bad in (None, "", "localhost", "evil.example/x", "a@evil.example", "x.y:{z}"):
        assert tracking_domain(bad) is None
    portal = "https://track.eshopbox.com/{tracking_id}"
    assert tracking_page(portal, "track.scitron.com") == "https://track.scitron.com/{tracking_id}"
    assert tracking_page(portal, None) == portal
    assert tracking_page(None, "track.scitron.com") == "https://track.scitron.com/{tracking_id}"


def test_an_event_in_the_same_second_as_the_answer_comes_after_it() -> None:
    # The WMS writes whole seconds; the answer was stored with microseconds.
    answered = replace(action(NdrActionKind.REATTEMPT), created_at=ASKED.replace(microsecond=7))
    same_second = [event(20, K.RTO_INITIATED, ASKED)]
    assert judge(same_second, [answered]).honoured is False
    earlier = [event(20, K.RTO_INITIATED, ASKED.replace(second=59, minute=59, hour=5))]
    assert judge(earlier, [answered]).honoured is None
