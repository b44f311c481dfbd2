"""A failed delivery as the product sees it: the fields of the shipment event we act on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

#: What a failed delivery may hold, so that every part of it can be kept (docs/fdr-event.md).
#: Ids are kept in signed 64-bit columns; 0 and negative ids name no shipment.
MAX_ID = 2**63 - 1
#: The external shipment id, order number and tracking id are kept whole or not at all.
MAX_REFERENCE_LENGTH = 128
#: Names (the shopper's, the brand's) are only shown: a longer one is cut, not refused.
MAX_NAME_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Item:
    name: str
    quantity: int

    def line(self) -> str:
        return f"{self.quantity} {self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    line1: str = ""
    line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""

    def one_line(self) -> str:
        """``114 Sainik vihar, pitampura, Delhi - 110034``: the seed's way of writing an address."""
        parts = [p.strip() for p in (self.line1, self.line2, self.city, self.state) if p.strip()]
        text = ", ".join(parts)
        if self.postal_code.strip():
            text = f"{text} - {self.postal_code.strip()}" if text else self.postal_code.strip()
        return text


@dataclass(frozen=True, slots=True, kw_only=True)
class FailedDelivery:
    """One failed attempt to deliver one shipment (``eventSubType == failed_delivery``)."""

    account_id: int
    account_slug: str = ""
    channel_id: int | None = None
    brand: str = ""
    shipment_id: int
    external_shipment_id: str = ""
    status_log_id: int
    order_number: str = ""
    customer_name: str = ""
    customer_phone: str = field(default="", repr=False)  # never in logs
    shipping_address: Address = field(default_factory=Address)
    items: tuple[Item, ...] = ()
    payment_type: str = ""
    is_cod: bool = False
    amount_due: Decimal | None = None
    tracking_id: str = ""
    courier: str = ""
    ndr_code: int | None = None
    ndr_description: str = ""
    remarks: str = ""
    latest_remark: str = ""
    failed_at: datetime | None = None

    def unstorable(self) -> list[str]:
        """What cannot be kept of this failed delivery, one phrase per field; empty if all fits.

        Names are not here: they are cut to ``MAX_NAME_LENGTH`` where the event is read."""
        problems = [
            f"{name} {value} is not an id from 1 to {MAX_ID}"
            for name, value in (
                ("account_id", self.account_id),
                ("id", self.shipment_id),
                ("status_log_id", self.status_log_id),
            )
            if not 0 < value <= MAX_ID
        ]
        problems += [
            f"{name} has {len(value)} characters, more than {MAX_REFERENCE_LENGTH}"
            for name, value in (
                ("externalShipmentID", self.external_shipment_id),
                ("customerOrderNumber", self.order_number),
                ("trackingID", self.tracking_id),
            )
            if len(value) > MAX_REFERENCE_LENGTH
        ]
        return problems

    @property
    def first_name(self) -> str:
        name = self.customer_name.strip()
        return name.split()[0] if name else "there"

    @property
    def item_count(self) -> int:
        return sum(max(i.quantity, 0) for i in self.items)

    def item_lines(self, separator: str = ", ") -> str:
        return separator.join(i.line() for i in self.items)

    @property
    def attempt_key(self) -> str:
        """The identity of this failed attempt: one conversation per shipment per attempt."""
        return f"{self.shipment_id}:{self.status_log_id}"
