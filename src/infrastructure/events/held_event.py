"""A failed-delivery event as JSON values and back, for a send held through quiet hours
(docs/quiet-hours.md). msgspec walks the dataclasses (addresses, items, the amount as a
decimal string, the failure time as ISO 8601) so nothing here lists their fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from domain.failed_delivery import FailedDelivery


class MsgspecFailedDeliveryCodec:
    def dump(self, fdr: FailedDelivery) -> dict[str, Any]:
        data: dict[str, Any] = msgspec.to_builtins(fdr)
        return data

    def load(self, data: Mapping[str, Any]) -> FailedDelivery:
        return msgspec.convert(data, FailedDelivery)
