"""A failed-delivery event kept as JSON while its send waits for quiet hours to end
(docs/quiet-hours.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from domain.failed_delivery import FailedDelivery


class FailedDeliveryCodec(Protocol):
    def dump(self, fdr: FailedDelivery) -> dict[str, Any]:
        """The event as JSON values (a scheduled job's payload)."""

    def load(self, data: Mapping[str, Any]) -> FailedDelivery:
        """The event back from ``dump``'s output."""
