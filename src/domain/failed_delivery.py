"""A failed delivery as the product sees it: the fields of the shipment event we act on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


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
    tracking_domain: str | None = None  # the brand's tracking page host, when the event names one
    courier: str = ""
    ndr_code: int | None = None
    ndr_description: str = ""
    remarks: str = ""
    latest_remark: str = ""
    failed_at: datetime | None = None

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
