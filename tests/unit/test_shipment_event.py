"""Decoding the WMS's shipment event: the fields used, leniently, and nothing else."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import BigInteger, String

from application.ports.shipment_events import Malformed, NotFailedDelivery
from domain.failed_delivery import MAX_ID, MAX_NAME_LENGTH, MAX_REFERENCE_LENGTH, FailedDelivery
from infrastructure.db import tables
from infrastructure.events.shipment_event import decode_shipment_event
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


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"id": 2**63}, "id 9223372036854775808 is not an id from 1 to 9223372036854775807"),
        ({"status_log_id": str(2**64)}, "status_log_id 18446744073709551616 is not an id"),
        ({"account_id": 0}, "account_id 0 is not an id"),
        ({"externalShipmentID": "e" * 200}, "externalShipmentID has 200 characters, more than 128"),
        ({"customerOrderNumber": "o" * 129}, "customerOrderNumber has 129 characters"),
        ({"trackingID": 10**200}, "trackingID has 201 characters"),
    ],
)
def test_what_the_tables_cannot_hold_is_malformed_and_says_why(
    changes: dict[str, Any], problem: str
) -> None:
    decoded = decode_shipment_event(_with(**changes))
    assert isinstance(decoded, Malformed)
    assert decoded.problem.startswith("cannot be kept: ")
    assert problem in decoded.problem


def test_the_readable_ids_of_an_unstorable_event_are_kept_for_the_record() -> None:
    decoded = decode_shipment_event(_with(id=2**63, externalShipmentID="e" * 200))
    assert isinstance(decoded, Malformed)
    assert (decoded.account_id, decoded.shipment_id, decoded.status_log_id) == (
        379,
        None,
        124953537,
    )
    assert "id 9223372036854775808" in decoded.problem
    assert "externalShipmentID" in decoded.problem


def test_the_largest_ids_and_references_that_fit_are_read() -> None:
    fdr = decode_shipment_event(
        _with(id=2**63 - 1, status_log_id=str(2**63 - 1), externalShipmentID="e" * 128)
    )
    assert isinstance(fdr, FailedDelivery)
    assert fdr.shipment_id == fdr.status_log_id == 2**63 - 1


def test_names_longer_than_their_columns_are_cut() -> None:
    fdr = decode_shipment_event(
        _with(
            customerName="Aman " + "v" * 400,
            channelLabel="  Scitron " + "s" * 400,
            account_slug="x" * 300,
        )
    )
    assert isinstance(fdr, FailedDelivery)
    assert fdr.customer_name == ("Aman " + "v" * 400)[:255]
    assert fdr.brand == ("Scitron " + "s" * 400)[:255]
    assert len(fdr.account_slug) == 255
    assert fdr.first_name == "Aman"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"resource": "shipment", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested"),
        (b'{"x": {"y": ' + b"[" * 2_000 + b"]" * 2_000 + b"}}", "nested"),
        (b'{"resource": "shipment", "eventSubType": "caf\xe9"}', "not a shipment event"),
        (b"\xff\xfe{}", "not a shipment event"),
    ],
    ids=["nested-field", "nested-top", "latin-1", "bom"],
)
def test_json_nested_too_deeply_or_not_utf8_is_malformed(body: bytes, says: str) -> None:
    decoded = decode_shipment_event(body)
    assert isinstance(decoded, Malformed)
    assert says in decoded.problem


@pytest.mark.parametrize("total", ["1e999999", "Infinity", "NaN", "1e40"])
def test_an_amount_due_that_is_no_amount_is_left_out(total: str) -> None:
    fdr = decode_shipment_event(
        _with(items=[{"productName": "Whey", "quantity": 1, "invoiceTotal": total}])
    )
    assert isinstance(fdr, FailedDelivery)
    assert fdr.amount_due is None


def test_the_limits_are_the_columns_that_keep_them() -> None:
    conversations = tables.conversations.c

    def length(column: Any) -> int | None:
        assert isinstance(column.type, String)
        return column.type.length

    for column in ("external_shipment_id", "order_number", "tracking_id"):
        assert length(conversations[column]) == MAX_REFERENCE_LENGTH, column
    assert length(tables.ndr_actions.c.external_shipment_id) == MAX_REFERENCE_LENGTH
    for column in ("customer_name", "brand"):
        assert length(conversations[column]) == MAX_NAME_LENGTH, column
    for column in ("account_id", "shipment_id", "shipment_status_log_id"):
        assert isinstance(conversations[column].type, BigInteger), column
    assert MAX_ID == 2**63 - 1  # BIGINT, signed
