"""The shipment event of the WMS (``resource == "shipment"``), decoded into a failed delivery.

Only the fields the product uses are declared; everything else is ignored. The WMS writes
numbers as strings and strings as numbers, so fuzzy fields are read leniently; what cannot be
kept (docs/fdr-event.md) makes the event ``Malformed``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import msgspec

from application.ports.shipment_events import DecodedEvent, Malformed, NotFailedDelivery
from domain.failed_delivery import MAX_ID, MAX_NAME_LENGTH, Address, FailedDelivery, Item
from domain.outcomes import SHIPPED_NAMES, EventNames, ShipmentEvent, event_name

Fuzzy = str | int | float | None


class _ShippingAddress(msgspec.Struct, kw_only=True):
    customerName: str | None = None
    addressLine1: str | None = None
    addressLine2: str | None = None
    city: str | None = None
    state: str | None = None
    postalCode: Fuzzy = None
    contactPhone: Fuzzy = None


class _Item(msgspec.Struct, kw_only=True):
    productName: str | None = None
    quantity: Fuzzy = None
    invoiceTotal: Fuzzy = None


class _LatestStatus(msgspec.Struct, kw_only=True):
    remark: str | None = None


class _Additional(msgspec.Struct, kw_only=True):
    ndr_status_code: Fuzzy = None
    ndr_status_description: str | None = None
    latest_status: _LatestStatus | None = None


class _ClickPost(msgspec.Struct, kw_only=True):
    additional: _Additional | None = None
    remark: str | None = None


class _TrackPayload(msgspec.Struct, kw_only=True):
    clickPostTrackData: _ClickPost | None = None


class _ResponseData(msgspec.Struct, kw_only=True):
    id: Fuzzy = None
    account_id: Fuzzy = None
    channel_id: Fuzzy = None
    channelLabel: str | None = None
    account_slug: str | None = None
    externalShipmentID: str | None = None
    customerOrderNumber: Fuzzy = None
    status_log_id: Fuzzy = None
    customerName: str | None = None
    customerContactNumber: Fuzzy = None
    shippingAddress: _ShippingAddress | None = None
    items: list[_Item] | None = None
    paymentType: str | None = None
    isCOD: Fuzzy = None
    trackingID: Fuzzy = None
    trackingDomain: str | None = None
    courierName: str | None = None
    remarks: str | None = None
    status: str | None = None
    status_updated_at: str | None = None
    track_payload: _TrackPayload | list[object] | None = None


class _Envelope(msgspec.Struct, kw_only=True):
    resource: str | None = None
    eventSubType: str | None = None
    accountSlug: str | None = None
    response_data: _ResponseData | list[object] | None = None


_decoder = msgspec.json.Decoder(_Envelope)


class _HeadData(msgspec.Struct, kw_only=True):
    id: Fuzzy = None
    account_id: Fuzzy = None
    status_log_id: Fuzzy = None
    status: str | None = None
    status_updated_at: str | None = None


class _Head(msgspec.Struct, kw_only=True):
    """What every other kind of event is read for: most of the traffic, so only these fields
    are decoded (the rest of the body is skipped, not built)."""

    resource: str | None = None
    eventSubType: str | None = None
    response_data: _HeadData | list[object] | None = None


_head_decoder = msgspec.json.Decoder(_Head)


def decode_shipment_event(data: bytes, names: EventNames = SHIPPED_NAMES) -> DecodedEvent:
    try:
        head = _head_decoder.decode(data)
        if head.resource != "shipment" or head.eventSubType != "failed_delivery":
            return _other(head, names)
        envelope = _decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return Malformed(f"not a shipment event: {exc}"[:500])
    except RecursionError:
        return Malformed("not a shipment event: JSON nested too deeply")
    data_ = envelope.response_data
    if not isinstance(data_, _ResponseData):
        return Malformed("failed_delivery event without response_data")
    account_id = _int(data_.account_id)
    shipment_id = _int(data_.id)
    status_log_id = _int(data_.status_log_id)
    missing = [
        name
        for name, value in (
            ("account_id", account_id),
            ("id", shipment_id),
            ("status_log_id", status_log_id),
        )
        if value is None
    ]
    if missing or account_id is None or shipment_id is None or status_log_id is None:
        return Malformed(f"failed_delivery event without {', '.join(missing)}")
    address = data_.shippingAddress or _ShippingAddress()
    additional = _additional(data_.track_payload)
    items = tuple(
        Item(name=(i.productName or "").strip() or "item", quantity=_int(i.quantity) or 1)
        for i in data_.items or []
    )
    is_cod = _str(data_.isCOD) == "1" or "cod" in (data_.paymentType or "").lower()
    fdr = FailedDelivery(
        account_id=account_id,
        account_slug=_name(data_.account_slug or envelope.accountSlug),
        channel_id=_int(data_.channel_id),
        brand=_name(data_.channelLabel),
        shipment_id=shipment_id,
        external_shipment_id=data_.externalShipmentID or "",
        status_log_id=status_log_id,
        order_number=_str(data_.customerOrderNumber),
        customer_name=_name(data_.customerName or address.customerName),
        customer_phone=_str(data_.customerContactNumber) or _str(address.contactPhone),
        shipping_address=Address(
            line1=address.addressLine1 or "",
            line2=address.addressLine2 or "",
            city=address.city or "",
            state=address.state or "",
            postal_code=_str(address.postalCode),
        ),
        items=items,
        payment_type=data_.paymentType or "",
        is_cod=is_cod,
        amount_due=_sum([i.invoiceTotal for i in data_.items or []]) if is_cod else None,
        tracking_id=_str(data_.trackingID),
        tracking_domain=tracking_domain(data_.trackingDomain),
        courier=data_.courierName or "",
        ndr_code=_int(additional.ndr_status_code) if additional else None,
        ndr_description=(additional.ndr_status_description or "") if additional else "",
        remarks=data_.remarks or "",
        latest_remark=_latest_remark(data_.track_payload),
        failed_at=_timestamp(data_.status_updated_at),
    )
    problems = fdr.unstorable()
    if problems:
        return Malformed(
            f"cannot be kept: {'; '.join(problems)}"[:500],
            account_id=_id_or_none(account_id),
            shipment_id=_id_or_none(shipment_id),
            status_log_id=_id_or_none(status_log_id),
        )
    return fdr


def _other(envelope: _Head, names: EventNames) -> ShipmentEvent | NotFailedDelivery:
    """A shipment event that may be the outcome of a notified attempt (docs/outcomes.md);
    anything else, or one without its ids, is only counted."""
    data_ = envelope.response_data
    named = envelope.eventSubType or ""
    if envelope.resource != "shipment" or not isinstance(data_, _HeadData):
        return NotFailedDelivery(envelope.resource or "", named)
    # The status names the event only when the envelope does not.
    name = named or data_.status or ""
    kind = names.kind_of(name)
    if kind is None:
        return NotFailedDelivery(envelope.resource, named, event_name(name))
    shipment_id = _id_or_none(_int(data_.id) or 0)
    status_log_id = _id_or_none(_int(data_.status_log_id) or 0)
    if shipment_id is None or status_log_id is None:
        return NotFailedDelivery(envelope.resource, named)
    return ShipmentEvent(
        account_id=_id_or_none(_int(data_.account_id) or 0),
        shipment_id=shipment_id,
        status_log_id=status_log_id,
        kind=kind,
        happened_at=_timestamp(data_.status_updated_at),
    )


_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)+$")


def tracking_domain(value: str | None) -> str | None:
    """The brand's tracking host, when it is one: it becomes the host of a redirect, so
    anything but a plain host name (a path, a scheme, a user part) is dropped."""
    host = (value or "").strip().lower().removeprefix("https://").rstrip("/")
    return host if len(host) <= 253 and _HOST.match(host) else None


def _additional(track: _TrackPayload | list[object] | None) -> _Additional | None:
    if isinstance(track, _TrackPayload) and track.clickPostTrackData is not None:
        return track.clickPostTrackData.additional
    return None


def _latest_remark(track: _TrackPayload | list[object] | None) -> str:
    if not isinstance(track, _TrackPayload) or track.clickPostTrackData is None:
        return ""
    click = track.clickPostTrackData
    latest = click.additional.latest_status if click.additional else None
    return (latest.remark if latest and latest.remark else click.remark) or ""


def _str(value: Fuzzy) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _int(value: Fuzzy) -> int | None:
    text = _str(value)
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _name(text: str | None) -> str:
    return (text or "").strip()[:MAX_NAME_LENGTH].rstrip()


def _id_or_none(value: int) -> int | None:
    return value if 0 < value <= MAX_ID else None


def _sum(values: list[Fuzzy]) -> Decimal | None:
    total = Decimal(0)
    seen = False
    for value in values:
        try:
            amount = Decimal(_str(value))
        except InvalidOperation:
            continue
        if amount.is_finite():
            total += amount
            seen = True
    try:
        return total.quantize(Decimal("0.01")) if seen else None
    except InvalidOperation:  # more digits than an amount due can have
        return None


def _timestamp(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        # The WMS writes India time without a zone ("2023-06-08 16:06:16"). fromisoformat
        # reads that shape about ten times faster than strptime, which matters on the path
        # that acknowledges most of the traffic (docs/outcomes.md); strptime reads the rest.
        local = datetime.fromisoformat(text) if len(text) == 19 and text[10] == " " else None
        if local is None or local.tzinfo is not None:
            local = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return (local - _IST_OFFSET).replace(tzinfo=UTC)


_IST_OFFSET = datetime(2000, 1, 1, 5, 30) - datetime(2000, 1, 1)


class MsgspecShipmentEventDecoder:
    """``decode_shipment_event`` with this deployment's event names (``WA_OUTCOME_EVENT_NAMES``)."""

    def __init__(self, names: EventNames) -> None:
        self._names = names

    def decode(self, data: bytes) -> DecodedEvent:
        return decode_shipment_event(data, self._names)
