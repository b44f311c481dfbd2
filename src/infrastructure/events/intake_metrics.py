"""The intake's counters in Prometheus (``fdr_events_total``, ``fdr_event_seconds``,
``shipment_events_unmapped_total``)."""

from __future__ import annotations

import re

import structlog

from application.ports.shipment_events import NotFailedDelivery
from infrastructure.metrics import FDR_EVENT_SECONDS, FDR_EVENTS, UNMAPPED_EVENT_NAMES

_log = structlog.get_logger("intake")


class PrometheusIntakeMetrics:
    def handled(self, outcome: str) -> None:
        FDR_EVENTS.labels(outcome).inc()

    def took(self, seconds: float) -> None:
        FDR_EVENT_SECONDS.observe(seconds)

    def unmapped(self, event: NotFailedDelivery) -> None:
        count_unmapped(event)


#: At most this many names get a label of their own (the rest count as ``other``): the
#: names come from outside, a label per name must not grow without end.
MAX_UNMAPPED_NAMES = 50
_seen_unmapped: set[str] = set()
_LABEL = re.compile(r"[^a-z0-9_]")


def count_unmapped(event: NotFailedDelivery) -> None:
    """Counts a shipment event whose name means nothing to the outcomes, by name, and says
    once per process which names were seen: an RTO or cancellation name the WMS uses but the
    configuration lacks shows here instead of vanishing among the acknowledged events."""
    if event.unmapped is None:
        return
    name = _LABEL.sub("?", event.unmapped[:40]) or "(none)"
    if name not in _seen_unmapped:
        if len(_seen_unmapped) >= MAX_UNMAPPED_NAMES:
            name = "other"
        else:
            _seen_unmapped.add(name)
            _log.info("shipment event name means no outcome", name=name)
    UNMAPPED_EVENT_NAMES.labels(name).inc()
