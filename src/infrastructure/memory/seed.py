"""The shipped reason rules and default templates, loaded into an in-memory store."""

from __future__ import annotations

from datetime import datetime

from domain.messages import QuickReply
from domain.reason_rules import ReasonRule, RuleSource
from domain.reasons import FdrReason
from domain.templates import TemplateVariable, WaTemplate
from infrastructure.db.seed_data import RULES_V1, SHIPPED_TEMPLATES
from infrastructure.memory.store import InMemoryStore


def seed_defaults(store: InMemoryStore, default_account_id: int, now: datetime) -> None:
    tables = store.tables
    tables.reason_rules = [
        ReasonRule(
            source=RuleSource(r["source"]),
            pattern=r["pattern"],
            reason=FdrReason(r["reason"]),
            priority=r["priority"],
        )
        for r in RULES_V1
    ]
    for row in SHIPPED_TEMPLATES:
        template_id = tables.new_id()
        tables.templates[template_id] = WaTemplate(
            id=template_id,
            account_id=default_account_id,
            template_name=row["template_name"],
            language=row["language"],
            template_body=row["template_body"],
            variables=tuple(TemplateVariable(v) for v in row["variables"]),
            description=row["description"],
            reason=FdrReason(row["reason"]) if row["reason"] else None,
            buttons=tuple(QuickReply(b["id"], b["title"]) for b in row["buttons"]),
            created_at=now,
            updated_at=now,
        )
