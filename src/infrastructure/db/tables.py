"""The tables: the seed's own (``wa_*``, ``poe_channel_*``) plus what the product needs.

Alembic's migrations are the source of the schema; these definitions mirror them for queries
(a test compares the two).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from infrastructure.db.types import BigId, LongBytes, LongText, RefId, UtcDateTime, WaId

metadata = MetaData()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _timestamps() -> list[Column[datetime]]:
    """Audit columns: set from the row's entity when it has them, else now (UTC)."""
    return [
        Column("created_at", UtcDateTime, nullable=False, default=_utcnow),
        Column("updated_at", UtcDateTime, nullable=False, default=_utcnow, onupdate=_utcnow),
    ]


conversations = Table(
    "wa_conversations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("shipment_id", BigInteger, nullable=False),
    Column("external_shipment_id", String(128), nullable=False, default=""),
    Column("shipment_status_log_id", BigInteger, nullable=False),
    Column("order_number", String(128), nullable=False, default=""),
    Column("tracking_id", String(128), nullable=False, default=""),
    Column("courier", String(128), nullable=False, default="", server_default=""),
    # The brand's tracking page host, from the event's ``trackingDomain`` (docs/outcomes.md).
    Column("tracking_domain", String(255), nullable=True),
    Column("reason", String(32), nullable=False),
    Column("customer_phone", String(20), nullable=False),
    Column("customer_name", String(255), nullable=False, default=""),
    Column("brand", String(255), nullable=False, default=""),
    Column("whatsappSenderConnectionId", BigInteger, nullable=False),
    Column("wa_template_id", BigInteger, nullable=True),
    Column("state", String(20), nullable=False),
    Column("root_message_id", WaId, nullable=True),
    Column("last_customer_message_at", UtcDateTime, nullable=True),
    Column("nudged_at", UtcDateTime, nullable=True),
    # The shopper's business-scoped user id, once Meta names it (username-only shoppers).
    Column("customer_user_id", String(64), nullable=True),
    # Random, in every button payload: a tap names its conversation only with it.
    Column("reply_ref", String(32), nullable=True),
    *_timestamps(),
    UniqueConstraint("shipment_id", "shipment_status_log_id", name="uq_conversation_attempt"),
    Index("ix_conversation_account", "account_id", "id"),
    Index("ix_conversation_account_created", "account_id", "created_at"),
    Index("ix_conversation_shipment", "shipment_id", "id"),
    Index("ix_conversation_root", "root_message_id"),
    Index("ix_conversation_phone", "customer_phone", "id"),
    Index("ix_conversation_user", "customer_user_id", "id"),
)

outgoing_messages = Table(
    "wa_outgoing_messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("conversation_id", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("client_ref", RefId, nullable=False),
    Column("shipment_status_log_id", BigInteger, nullable=False),
    Column("whatsappSenderConnectionId", BigInteger, nullable=False),
    Column("customer_phone", String(20), nullable=False),
    Column("business_phone", String(20), nullable=False),
    Column("wa_template_id", BigInteger, nullable=True),
    Column("root_message_id", WaId, nullable=True),
    Column("context_message_id", WaId, nullable=True),  # deprecated in the seed, kept
    Column("message_id", WaId, nullable=True),
    Column("payload", LongText, nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("error_code", Integer, nullable=True),
    Column("error_title", String(255), nullable=True),
    Column("external_updated_at", UtcDateTime, nullable=True),
    Column("resent_at", UtcDateTime, nullable=True),  # an unknown send was sent again then
    *_timestamps(),
    UniqueConstraint("message_id", name="uq_outgoing_message_id"),
    UniqueConstraint("client_ref", name="uq_outgoing_client_ref"),
    Index("ix_outgoing_conversation", "conversation_id", "id"),
    Index("ix_outgoing_root", "root_message_id"),
    Index("ix_outgoing_status_updated", "status", "updated_at"),
)

dlr_messages = Table(
    "wa_dlr_messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("wa_outgoing_message_id", BigInteger, nullable=True),
    Column("message_id", WaId, nullable=False),
    Column("status", String(16), nullable=False),
    Column("client_ref", RefId, nullable=True),
    Column("error_code", Integer, nullable=True),
    Column("error_title", String(255), nullable=True),
    Column("payload", LongText, nullable=False, default=""),
    Column("external_timestamp", UtcDateTime, nullable=False),
    *_timestamps(),
    # Meta's ``pricing`` of the status (docs/cost.md).
    Column("pricing_billable", Boolean, nullable=True),
    Column("pricing_model", String(16), nullable=True),
    Column("pricing_category", String(32), nullable=True),
    Column("pricing_type", String(32), nullable=True),
    Column("pricing_conversation_id", String(128), nullable=True),
    UniqueConstraint("message_id", "status", name="uq_dlr_message_status"),
    # By message; and the unlinked ones (NULL) by when they were stored, for the sweep that
    # links statuses stored ahead of their message (0012; docs/sending.md).
    Index("ix_dlr_outgoing_created", "wa_outgoing_message_id", "created_at"),
)

customer_replies = Table(
    "wa_customer_reply_messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("wa_context_outgoing_message_id", WaId, nullable=True),
    Column("wa_root_outgoing_message_id", BigInteger, nullable=True),
    Column("context_message_id", WaId, nullable=True),  # deprecated in the seed, kept
    Column("reply_message_id", WaId, nullable=False),
    Column("customer_phone", String(20), nullable=False, default=""),
    Column("customer_user_id", String(64), nullable=True),
    Column("customer_reply_type", String(32), nullable=False),
    Column("customer_reply_value", LongText, nullable=False, default=""),
    Column("button_reply_id", String(256), nullable=True),
    Column("payload", LongText, nullable=False, default=""),
    Column("external_updated_at", UtcDateTime, nullable=False),
    Column("decision", Text, nullable=True),  # what we decided to do about it (JSON)
    Column("handled_at", UtcDateTime, nullable=True),  # when that was fully done
    *_timestamps(),
    UniqueConstraint("reply_message_id", name="uq_reply_message_id"),
    Index("ix_reply_root", "wa_root_outgoing_message_id"),
)

templates = Table(
    "wa_templates",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("template_name", String(255), nullable=False),
    Column("language", String(16), nullable=False),
    Column("template_body", Text, nullable=False, default=""),
    Column("variables", String(1024), nullable=False, default="[]"),
    Column("description", String(255), nullable=False, default=""),
    Column("reason", String(32), nullable=True),
    Column("buttons", Text, nullable=False, default="[]"),
    Column("verified_at", UtcDateTime, nullable=True),
    Column("meta_template_id", String(64), nullable=True),
    Column("verified_waba_id", String(64), nullable=True),
    *_timestamps(),
    UniqueConstraint("account_id", "template_name", "language", name="uq_template_name"),
    Index("ix_template_reason", "account_id", "reason"),
    Index("ix_template_meta_id", "meta_template_id"),
)

channel_notifications = Table(
    "poe_channel_notifications",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("notification_type", String(64), nullable=False),
    Column("isWhatsappEnabled", Boolean, nullable=False, default=False),
    Column("whatsappTemplateId", BigInteger, nullable=True),
    *_timestamps(),
    # What a silent shopper's conversation leads to at the cut-off (docs/scheduler.md).
    Column("whatsappDefaultAction", String(20), nullable=True),
    UniqueConstraint("account_id", "notification_type", name="uq_channel_notification"),
)

channel_settings = Table(
    "poe_channel_settings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("whatsappSenderConnectionId", BigInteger, nullable=True),
    *_timestamps(),
    Column("language", String(8), nullable=False, server_default="en"),
    Column("monthlyTemplateCap", Integer, nullable=True),  # docs/cost.md
    # None: the defaults (docs/scheduler.md).
    Column("reminderDelayMinutes", Integer, nullable=True),
    Column("defaultActionCutoffMinutes", Integer, nullable=True),
    # Minutes after midnight and an IANA zone; all None: the deployment's default
    # (docs/quiet-hours.md).
    Column("quietHoursStart", SmallInteger, nullable=True),
    Column("quietHoursEnd", SmallInteger, nullable=True),
    Column("quietHoursZone", String(64), nullable=True),
    UniqueConstraint("account_id", name="uq_channel_settings_account"),
)

#: Each shopper's language, per number: every later message uses it (docs/languages.md).
shopper_languages = Table(
    "wa_shopper_languages",
    metadata,
    Column("customer_phone", String(20), primary_key=True),
    Column("language", String(8), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

reason_rules = Table(
    "wa_fdr_reason_rules",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source", String(16), nullable=False),
    Column("pattern", String(255), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("priority", Integer, nullable=False, default=100),
    *_timestamps(),
    UniqueConstraint("source", "pattern", name="uq_reason_rule"),
)

fdr_events = Table(
    "wa_fdr_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_key", RefId, nullable=False),
    Column("account_id", BigInteger, nullable=True),
    Column("shipment_id", BigInteger, nullable=True),
    Column("shipment_status_log_id", BigInteger, nullable=True),
    Column("reason", String(32), nullable=True),
    Column("outcome", String(20), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    # Why a skipped event sent nothing (a ``SkipReason`` value); null for the other outcomes.
    Column("skip_reason", String(32), nullable=True),
    Column("conversation_id", BigInteger, nullable=True),
    Column("error_code", Integer, nullable=True),
    Column("received_at", UtcDateTime, nullable=False),
    *_timestamps(),
    UniqueConstraint("event_key", name="uq_fdr_event_key"),
    Index("ix_fdr_event_account", "account_id", "received_at"),
)

webhook_inbox = Table(
    "wa_webhook_inbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("connection_id", BigInteger, nullable=True),
    Column("body", LongBytes, nullable=False),
    # len(body): a pump pass picks bodies by size without reading them.
    Column("body_bytes", Integer, nullable=False, server_default="0"),
    Column("received_at", UtcDateTime, nullable=False),
    Column("processed_at", UtcDateTime, nullable=True),
    Column("error", Text, nullable=True),
    # A body that must wait (Meta, the ESB or the database unavailable) is retried with
    # backoff: ``attempts`` so far, not before ``retry_at``.
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("retry_at", UtcDateTime, nullable=True),
    Index("ix_inbox_pending", "processed_at", "id"),
)

#: Elements of a body that were not applied (unreadable, Meta's value-level errors, refused
#: by the database), one row per element: the rest of the body was.
webhook_problems = Table(
    "wa_webhook_problems",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("inbox_id", BigInteger, nullable=False),
    Column("element", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("code", Integer, nullable=True),
    Column("detail", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("inbox_id", "element", "kind", name="uq_webhook_problem"),
)

ndr_actions = Table(
    "wa_ndr_actions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("conversation_id", BigInteger, nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("shipment_id", BigInteger, nullable=False),
    Column("external_shipment_id", String(128), nullable=False, default=""),
    Column("kind", String(20), nullable=False),
    Column("reply_message_id", WaId, nullable=False),
    Column("delivery_date", Date, nullable=True),
    Column("phone", String(20), nullable=True),
    Column("disputed_fake_attempt", Boolean, nullable=False, default=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("result", Text, nullable=False, default=""),
    *_timestamps(),
    # Asked for by the workspace's default action, not by the shopper (docs/scheduler.md).
    Column("automatic", Boolean, nullable=False, default=False, server_default="0"),
    # The new delivery address of ``update_address``, as sent to the ESB (0011; docs/esb.md).
    Column("address", String(500), nullable=True),
    UniqueConstraint("conversation_id", "kind", name="uq_ndr_action_kind"),
)

link_clicks = Table(
    "wa_link_clicks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("shipment_id", BigInteger, nullable=False),
    Column("conversation_id", BigInteger, nullable=True),
    Column("source", String(32), nullable=False),
    Column("user_agent", String(512), nullable=False, default=""),
    Column("clicked_at", UtcDateTime, nullable=False),
    Index("ix_link_click_shipment", "shipment_id"),
)

#: The shipment events that followed a notified failed attempt (docs/outcomes.md): only for
#: shipments with a conversation; the unique key makes a redelivered event a no-op.
shipment_events = Table(
    "wa_shipment_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=True),
    Column("shipment_id", BigInteger, nullable=False),
    Column("shipment_status_log_id", BigInteger, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("happened_at", UtcDateTime, nullable=True),
    Column("received_at", UtcDateTime, nullable=False),
    UniqueConstraint("shipment_id", "shipment_status_log_id", name="uq_shipment_event"),
)

#: One outcome per conversation, derived again from its events whenever one arrives.
conversation_outcomes = Table(
    "wa_conversation_outcomes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("conversation_id", BigInteger, nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("shipment_id", BigInteger, nullable=False),
    Column("outcome", String(20), nullable=True),
    Column("outcome_status_log_id", BigInteger, nullable=True),
    Column("outcome_at", UtcDateTime, nullable=True),
    Column("next_event", String(20), nullable=True),
    Column("answer", String(20), nullable=False),
    Column("honoured", Boolean, nullable=True),
    *_timestamps(),
    UniqueConstraint("conversation_id", name="uq_conversation_outcome"),
)

#: A shopper's opt-out per workspace and number (docs/opt-out.md); cleared rows stay, inactive.
opt_outs = Table(
    "wa_opt_outs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("customer_phone", String(20), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("source", String(20), nullable=False),
    Column("detail", String(255), nullable=False, default=""),
    Column("opted_out_at", UtcDateTime, nullable=False),
    Column("opted_in_at", UtcDateTime, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("account_id", "customer_phone", "scope", name="uq_opt_out_number"),
    Index("ix_opt_out_account", "account_id", "active", "id"),
)

#: Each ``whatsapp_unreachable`` signal once: per conversation, else per skipped attempt.
unreachable_signals = Table(
    "wa_unreachable_signals",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("signal_key", String(64), nullable=False),
    Column("account_id", BigInteger, nullable=True),
    Column("shipment_id", BigInteger, nullable=True),
    Column("conversation_id", BigInteger, nullable=True),
    Column("why", String(20), nullable=False),
    Column("error_code", Integer, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("signal_key", name="uq_unreachable_signal"),
)

#: Work due later (docs/scheduler.md): claimed with ``FOR UPDATE SKIP LOCKED`` in
#: (state, run_after) order, one row per kind and key.
scheduled_jobs = Table(
    "wa_scheduled_jobs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("job_key", RefId, nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("conversation_id", BigInteger, nullable=True),
    Column("due_at", UtcDateTime, nullable=False),
    Column("run_after", UtcDateTime, nullable=False),
    Column("payload", Text, nullable=False, default="{}"),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_at", UtcDateTime, nullable=True),
    Column("done_at", UtcDateTime, nullable=True),
    Column("last_error", Text, nullable=False, default=""),
    *_timestamps(),
    UniqueConstraint("kind", "job_key", name="uq_scheduled_job_key"),
    Index("ix_scheduled_job_claim", "state", "run_after"),
    Index("ix_scheduled_job_conversation", "conversation_id"),
)
