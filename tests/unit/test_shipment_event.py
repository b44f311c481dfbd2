"""Decoding the WMS's shipment event: the fields used, leniently, and nothing else."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from domain.failed_delivery import FailedDelivery
from infrastructure.events.shipment_event import Malformed, NotFailedDelivery, decode_shipment_event
from tests.conftest import FIXTURES

SEED: dict[str, Any] = json.loads((FIXTURES / "fdr-event-otp-cancellation.json").read_bytes())


def _with(**changes: Any) -> bytes:
    event = json.loads(json.dumps(SEED))
    event["response_data"].update(changes)
    return json.dumps(event).encode()


def test_the_seed_event_reads_whole() -> None:
    fdr = decode_shipment_event(json.dumps(SEED).encode())
    assert isinstance(fdr, FailedDelivery)
    assert (fdr.account_id, fdr.shipment_id, fdr.status_log_id) == (379, 17148471, 124953537)
    assert fdr.order_number == "4980116095129"
    assert fdr.customer_name == "Aman Verma"
    assert fdr.customer_phone == "7891971009"
    assert fdr.brand == "Scitron Shopify"
    assert fdr.tracking_id == "1704612602165"
    assert fdr.courier == "Delhivery"
    assert (fdr.ndr_code, fdr.ndr_description) == (14, "OTP-based cancellation")
    assert fdr.remarks == "code verified cancellation"
    assert fdr.is_cod
    assert fdr.amount_due == Decimal("1889.10")
    assert [(i.name, i.quantity) for i in fdr.items] == [
        ("Advance Whey Protein with 20 Vitamins & Minerals", 1)
    ]
    assert fdr.shipping_address.postal_code == "331403"
    assert fdr.failed_at is not None
    assert fdr.failed_at.isoformat() == "2023-06-08T10:36:16+00:00"  # 16:06:16 in India


def test_nulls_empty_strings_and_missing_optional_fields_are_fine() -> None:
    body = _with(
        customerName=None,
        customerContactNumber="",
        shippingAddress=None,
        items=[{"productName": None, "quantity": "2"}, {}],
        trackingID=None,
        courierName=None,
        remarks=None,
        track_payload=[],
        isCOD="0",
        paymentType="Prepaid",
        status_updated_at="",
    )
    fdr = decode_shipment_event(body)
    assert isinstance(fdr, FailedDelivery)
    assert fdr.customer_phone == ""
    assert fdr.ndr_code is None
    assert [i.quantity for i in fdr.items] == [2, 1]
    assert fdr.amount_due is None
    assert fdr.failed_at is None


def test_numbers_written_as_strings_and_strings_as_numbers() -> None:
    fdr = decode_shipment_event(
        _with(
            account_id="379",
            id=17148471.0,
            customerOrderNumber=4980116095129,
            customerContactNumber=7891971009,
        )
    )
    assert isinstance(fdr, FailedDelivery)
    assert (fdr.account_id, fdr.shipment_id, fdr.order_number) == (379, 17148471, "4980116095129")
    assert fdr.customer_phone == "7891971009"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"not json", Malformed),
        (b"[1, 2]", Malformed),
        (b'"text"', Malformed),
        (b'{"resource": "shipment", "eventSubType": "delivered"}', NotFailedDelivery),
        (b'{"resource": "order", "eventSubType": "failed_delivery"}', NotFailedDelivery),
        (b'{"resource": "shipment", "eventSubType": "failed_delivery"}', Malformed),
        (
            b'{"resource": "shipment", "eventSubType": "failed_delivery", "response_data": []}',
            Malformed,
        ),
    ],
)
def test_what_is_not_a_usable_fdr_event(body: bytes, kind: type) -> None:
    assert isinstance(decode_shipment_event(body), kind)


def test_an_fdr_event_without_its_ids_is_malformed() -> None:
    decoded = decode_shipment_event(_with(status_log_id=None, account_id=""))
    assert isinstance(decoded, Malformed)
    assert "account_id" in decoded.problem
    assert "status_log_id" in decoded.problem
