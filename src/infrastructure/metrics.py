"""Prometheus metrics of the service (the HTTP app serves them at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

FDR_EVENTS = Counter(
    "fdr_events_total",
    "Shipment events handled, by outcome",
    ["outcome"],
)
FDR_EVENT_SECONDS = Histogram(
    "fdr_event_seconds",
    "Time from taking a shipment event to its recorded outcome",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
