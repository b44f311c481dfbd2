"""Prometheus metrics of the service (the HTTP app serves them at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FDR_EVENTS = Counter(
    "fdr_events_total",
    "Shipment events handled, by outcome",
    ["outcome"],
)
UNMAPPED_EVENT_NAMES = Counter(
    "shipment_events_unmapped_total",
    "Shipment events acknowledged without a look because their name (eventSubType, else "
    "status) means no kind the outcomes know, by name (the first 50 names a process sees; "
    "later ones as `other`). An RTO or cancellation name here is missing from "
    "WA_OUTCOME_EVENT_NAMES (docs/outcomes.md)",
    ["name"],
)
FDR_EVENT_SECONDS = Histogram(
    "fdr_event_seconds",
    "Time from taking a shipment event to its recorded outcome",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WEBHOOK_UPDATES = Counter(
    "webhook_updates_total",
    "What the webhook pump did with stored Meta webhooks, by kind: status (new delivery "
    "reports), reply (answers handled), refused_answer (an answer that named a conversation "
    "of another number, connection or shopper: nothing done), unmatched_message (a message "
    "that answers no conversation, e.g. to a number the service does not know), "
    "template_change, "
    "malformed_body, waiting_body",
    ["kind"],
)
WEBHOOK_PROBLEMS = Counter(
    "webhook_element_problems_total",
    "Elements of stored webhook bodies not applied, by kind: unreadable (does not decode or "
    "does not fit), meta_error (a value-level error reported by Meta), not_stored (refused "
    "for good while storing or deciding); see `fdr-whatsapp webhooks show ID`",
    ["kind"],
)
WEBHOOK_BACKLOG = Gauge(
    "webhook_inbox_pending",
    "Stored webhook bodies not processed yet (measured at each sweep)",
)
WEBHOOK_BACKLOG_AGE = Gauge(
    "webhook_inbox_oldest_pending_seconds",
    "Age of the oldest stored webhook body not processed yet (0 when none)",
)
WORKER_IN_FLIGHT = Gauge(
    "worker_events_in_flight",
    "Shipment events the worker is handling right now",
)
UNKNOWN_SENDS = Gauge(
    "fdr_unknown_sends",
    "Template sends whose outcome is unknown (timed out, no status from Meta yet), by age "
    "band; measured by the worker at each look at due unknown sends",
    ["age"],
)
UNREADABLE_ROWS_PASSED = Counter(
    "fdr_unknown_sends_unreadable_rows",
    "Rows the unknown sends' recheck could not read (a zero date another writer left: "
    "docs/outages.md), their sends left as they are; counted on every pass that meets one, "
    "so it keeps rising till a human mends the row",
)
DEPENDENCY_UP = Gauge(
    "dependency_up",
    "1 when the dependency answered the last readiness check, 0 when not (the database and "
    "its schema are required; redis is optional: 0 means degraded, still serving)",
    ["dependency"],
)
JOBS_DUE = Gauge(
    "fdr_scheduled_jobs_due",
    "Scheduled jobs (reminders, default actions, ...) whose due time has passed and that are "
    "not done yet, by kind; measured by each worker every 30 s",
    ["kind"],
)
JOBS_OVERDUE = Gauge(
    "fdr_scheduled_jobs_overdue",
    "Scheduled jobs still not done more than a minute after their due time, by kind: above 0 "
    "for long means no worker runs them (or they keep failing)",
    ["kind"],
)
JOBS_DONE = Counter(
    "fdr_scheduled_jobs",
    "Scheduled jobs run, by kind and outcome: done, retried (failed, tried again after a "
    "backoff) or failed (given up)",
    ["kind", "outcome"],
)
EARLY_STATUSES_LINKED = Counter(
    "fdr_early_statuses_linked",
    "Meta statuses stored ahead of their message that the workers' sweep linked and applied "
    "(the status pass's look after its commit had failed; docs/sending.md)",
)
