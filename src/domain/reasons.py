"""Why a courier could not deliver: the nine failed-delivery reasons of the product."""

from __future__ import annotations

from enum import StrEnum


class FdrReason(StrEnum):
    CUSTOMER_UNREACHABLE = "customer_unreachable"
    ADDRESS_ISSUE = "address_issue"
    REFUSED = "refused"
    CUSTOMER_UNAVAILABLE = "customer_unavailable"
    RESCHEDULED = "rescheduled"
    ODA = "oda"
    PAYMENT_ISSUE = "payment_issue"
    OTP_CANCELLATION = "otp_cancellation"
    OPEN_DELIVERY = "open_delivery"
    UNKNOWN = "unknown"

    @classmethod
    def known(cls) -> tuple[FdrReason, ...]:
        """Every reason a message can be sent for (all but ``unknown``)."""
        return tuple(r for r in cls if r is not cls.UNKNOWN)
