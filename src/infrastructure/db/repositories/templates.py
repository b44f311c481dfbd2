"""Templates (``wa_templates``) and workspace settings (``poe_channel_*``)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from sqlalchemy import (
    bindparam,
    delete,
    literal_column,
    null,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.sql.expression import ColumnElement

from domain.errors import Conflict
from domain.messages import QuickReply
from domain.quiet_hours import QuietHours, from_minutes, window_minutes
from domain.reasons import FdrReason
from domain.scheduling import DefaultAction
from domain.settings import (
    DEFAULT_ACTION_CUTOFF_MINUTES,
    DEFAULT_REMINDER_DELAY_MINUTES,
    ChannelSetting,
)
from domain.templates import TemplateVariable, WaTemplate
from infrastructure.db.repositories._base import SqlRepository
from infrastructure.db.tables import channel_notifications, channel_settings, templates

_t = templates


def _template_values(tpl: WaTemplate) -> dict[str, Any]:
    return {
        "account_id": tpl.account_id,
        "template_name": tpl.template_name,
        "language": tpl.language,
        "template_body": tpl.template_body,
        "variables": json.dumps([v.value for v in tpl.variables]),
        "description": tpl.description,
        "reason": tpl.reason.value if tpl.reason else None,
        "buttons": json.dumps([{"id": b.id, "title": b.title} for b in tpl.buttons]),
        "verified_at": tpl.verified_at,
        "meta_template_id": tpl.meta_template_id,
        "verified_waba_id": tpl.verified_waba_id,
        "created_at": tpl.created_at,
        "updated_at": tpl.updated_at,
    }


def template_from_row(row: RowMapping) -> WaTemplate:
    return WaTemplate(
        id=row["id"],
        account_id=row["account_id"],
        template_name=row["template_name"],
        language=row["language"],
        template_body=row["template_body"],
        variables=tuple(TemplateVariable(v) for v in json.loads(row["variables"])),
        description=row["description"],
        reason=FdrReason(row["reason"]) if row["reason"] else None,
        buttons=tuple(QuickReply(b["id"], b["title"]) for b in json.loads(row["buttons"])),
        verified_at=row["verified_at"],
        meta_template_id=row["meta_template_id"],
        verified_waba_id=row["verified_waba_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class SqlTemplateRepository(SqlRepository):
    async def add(self, template: WaTemplate) -> WaTemplate:
        new_id = await self._insert_unique(_t.insert().values(_template_values(template)))
        if new_id is None:
            raise Conflict(
                f"template {template.template_name!r} ({template.language}) exists already"
            )
        return dataclasses.replace(template, id=new_id)

    async def get(self, template_id: int) -> WaTemplate | None:
        row = (
            (await self._conn.execute(select(_t).where(_t.c.id == template_id))).mappings().first()
        )
        return None if row is None else template_from_row(row)

    async def update(self, template: WaTemplate) -> None:
        assert template.id is not None
        values = _template_values(template)
        values.pop("created_at")
        updated = await self._execute_unique(
            update(_t).where(_t.c.id == template.id).values(values)
        )
        if updated is None:  # a rename onto an existing (name, language)
            raise Conflict(
                f"template {template.template_name!r} ({template.language}) exists already"
            )

    async def delete(self, template_id: int) -> bool:
        result = await self._conn.execute(delete(_t).where(_t.c.id == template_id))
        return bool(result.rowcount)

    async def for_account(self, account_id: int) -> list[WaTemplate]:
        rows = await self._conn.execute(
            select(_t).where(_t.c.account_id == account_id).order_by(_t.c.id)
        )
        return [template_from_row(r) for r in rows.mappings()]

    async def default_for(self, account_id: int, reason: FdrReason) -> WaTemplate | None:
        row = (
            (
                await self._conn.execute(
                    select(_t)
                    .where(_t.c.account_id == account_id, _t.c.reason == reason.value)
                    .order_by(_t.c.id)
                    .limit(1)
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else template_from_row(row)

    async def verified_as(self, meta_template_id: str) -> list[WaTemplate]:
        rows = await self._conn.execute(
            select(_t).where(_t.c.meta_template_id == meta_template_id).order_by(_t.c.id)
        )
        return [template_from_row(r) for r in rows.mappings()]


_n = channel_notifications
_s = channel_settings


_SENDER_COLUMNS = (
    _s.c.whatsappSenderConnectionId,
    _s.c.language,
    _s.c.monthlyTemplateCap,
    _s.c.reminderDelayMinutes,
    _s.c.defaultActionCutoffMinutes,
    _s.c.quietHoursStart,
    _s.c.quietHoursEnd,
    _s.c.quietHoursZone,
)
_REASON_COLUMNS = (
    _n.c.notification_type,
    _n.c.isWhatsappEnabled,
    _n.c.whatsappTemplateId,
    _n.c.whatsappDefaultAction,
)


def _blank(columns: tuple[ColumnElement[Any], ...]) -> list[ColumnElement[Any]]:
    return [type_coerce(null(), c.type).label(c.name) for c in columns]


#: A workspace's ``poe_channel_settings`` row and ``poe_channel_notifications`` rows in one
#: statement (``account``: its id): ``(kind, *sender columns, *reason columns)``, kind 0 the
#: sender's row, 1 a reason's, the other table's columns NULL. Built once: its compiled form
#: is cached.
_SETTING_ROWS = union_all(
    select(literal_column("0").label("kind"), *_SENDER_COLUMNS, *_blank(_REASON_COLUMNS)).where(
        _s.c.account_id == bindparam("account")
    ),
    select(literal_column("1").label("kind"), *_blank(_SENDER_COLUMNS), *_REASON_COLUMNS).where(
        _n.c.account_id == bindparam("account")
    ),
)


class SqlChannelSettingRepository(SqlRepository):
    """One ``poe_channel_settings`` row (sender) and one ``poe_channel_notifications`` row per
    reason (``notification_type`` = the reason key: enabled flag and template)."""

    async def get(self, account_id: int) -> ChannelSetting | None:
        # One round trip for both tables: the sender's row (kind 0) and the reasons' (kind 1),
        # each padded with the other's columns as NULL.
        both = (await self._conn.execute(_SETTING_ROWS, {"account": account_id})).all()
        sender_row = next((r[1:9] for r in both if r[0] == 0), None)
        rows = [r for r in both if r[0] == 1]
        if sender_row is None and not rows:
            return None
        enabled = any(bool(r.isWhatsappEnabled) for r in rows)
        chosen: dict[FdrReason, int] = {}
        actions: dict[FdrReason, DefaultAction] = {}
        for r in rows:
            if r.notification_type not in FdrReason.__members__.values():
                continue
            if r.whatsappTemplateId is not None:
                chosen[FdrReason(r.notification_type)] = int(r.whatsappTemplateId)
            if r.whatsappDefaultAction in DefaultAction.__members__.values():
                action = DefaultAction(r.whatsappDefaultAction)
                if action is not DefaultAction.NOTHING:
                    actions[FdrReason(r.notification_type)] = action
        delay = None if sender_row is None else sender_row[3]
        cutoff = None if sender_row is None else sender_row[4]
        return ChannelSetting(
            account_id=account_id,
            whatsapp_enabled=enabled,
            sender_connection_id=None if sender_row is None else sender_row[0],
            templates=chosen,
            language="en" if sender_row is None else sender_row[1],
            monthly_template_cap=None if sender_row is None else sender_row[2],
            quiet_hours=None if sender_row is None else _quiet_hours(*sender_row[5:8]),
            reminder_delay_minutes=DEFAULT_REMINDER_DELAY_MINUTES if delay is None else delay,
            default_action_cutoff_minutes=(
                DEFAULT_ACTION_CUTOFF_MINUTES if cutoff is None else cutoff
            ),
            default_actions=actions,
        )

    async def lock_cap(self, account_id: int) -> int | None:
        # FOR UPDATE on MariaDB; SQLite drops it, its BEGIN IMMEDIATE serialises the writers.
        found = await self._conn.execute(
            select(_s.c.monthlyTemplateCap).where(_s.c.account_id == account_id).with_for_update()
        )
        cap = found.scalar_one_or_none()
        return None if cap is None else int(cap)

    async def save(self, setting: ChannelSetting) -> None:
        account = setting.account_id
        sender = {
            "whatsappSenderConnectionId": setting.sender_connection_id,
            "language": setting.language,
            "monthlyTemplateCap": setting.monthly_template_cap,
            **_quiet_columns(setting.quiet_hours),
            "reminderDelayMinutes": setting.reminder_delay_minutes,
            "defaultActionCutoffMinutes": setting.default_action_cutoff_minutes,
        }
        # The row changed first, inserted only when there is none: an insert the row refuses
        # would hold it shared, and the change then asked for it exclusively deadlocks with
        # a records' transaction waiting for it (``lock_cap``: docs/cost.md, "The monthly cap").
        change = update(_s).where(_s.c.account_id == account).values(**sender)
        if (await self._conn.execute(change)).rowcount == 0:
            inserted = await self._insert_unique(_s.insert().values(account_id=account, **sender))
            if inserted is None:  # another save inserted it a moment ago
                await self._conn.execute(change)
        for reason in FdrReason.known():
            row = {
                "isWhatsappEnabled": setting.whatsapp_enabled,
                "whatsappTemplateId": setting.templates.get(reason),
                "whatsappDefaultAction": setting.default_actions.get(reason),
            }
            inserted = await self._insert_unique(
                _n.insert().values(account_id=account, notification_type=reason.value, **row)
            )
            if inserted is None:
                await self._conn.execute(
                    update(_n)
                    .where(_n.c.account_id == account, _n.c.notification_type == reason.value)
                    .values(**row)
                )


def _quiet_hours(start: int | None, end: int | None, zone: str | None) -> QuietHours | None:
    if start is None or end is None or zone is None:
        return None
    return QuietHours(from_minutes(start), from_minutes(end), zone)


def _quiet_columns(window: QuietHours | None) -> dict[str, object]:
    if window is None:
        return {"quietHoursStart": None, "quietHoursEnd": None, "quietHoursZone": None}
    return {
        "quietHoursStart": window_minutes(window.start),
        "quietHoursEnd": window_minutes(window.end),
        "quietHoursZone": window.zone,
    }
