"""The in-memory database: tables as dicts, unique keys as dict keys, one writer at a time."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field

from application.ports.repositories import UnreachableSignal
from domain.conversation import Conversation
from domain.messages import CustomerReply, DeliveryReport, OutgoingMessage
from domain.ndr import NdrAction
from domain.opt_out import OptOut
from domain.outcomes import ShipmentEvent, Verdict
from domain.reason_rules import ReasonRule
from domain.records import FdrEventRecord, LinkClick, WebhookDelivery, WebhookProblem
from domain.scheduling import ScheduledJob
from domain.settings import ChannelSetting
from domain.templates import WaTemplate


@dataclass
class Tables:
    conversations: dict[int, Conversation] = field(default_factory=dict)
    messages: dict[int, OutgoingMessage] = field(default_factory=dict)
    delivery_reports: dict[tuple[str, str], DeliveryReport] = field(default_factory=dict)
    replies: dict[str, CustomerReply] = field(default_factory=dict)
    templates: dict[int, WaTemplate] = field(default_factory=dict)
    settings: dict[int, ChannelSetting] = field(default_factory=dict)
    reason_rules: list[ReasonRule] = field(default_factory=list)
    fdr_events: dict[str, FdrEventRecord] = field(default_factory=dict)
    inbox: dict[int, WebhookDelivery] = field(default_factory=dict)
    webhook_problems: dict[tuple[int, str, str], WebhookProblem] = field(default_factory=dict)
    ndr_actions: dict[tuple[int, str], NdrAction] = field(default_factory=dict)
    link_clicks: dict[int, LinkClick] = field(default_factory=dict)
    shipment_events: dict[tuple[int, int], ShipmentEvent] = field(default_factory=dict)
    outcomes: dict[int, tuple[int, int, Verdict]] = field(default_factory=dict)  # id: acct, ship
    shopper_languages: dict[str, str] = field(default_factory=dict)
    opt_outs: dict[tuple[int, str, str], OptOut] = field(default_factory=dict)  # acct, nr, scope
    unreachable_signals: dict[str, UnreachableSignal] = field(default_factory=dict)
    scheduled_jobs: dict[tuple[str, str], ScheduledJob] = field(default_factory=dict)
    next_id: int = 1

    def new_id(self) -> int:
        value = self.next_id
        self.next_id += 1
        return value


class InMemoryStore:
    """Shared by every unit of work of one test; transactions are serialised by a lock and
    rolled back by restoring a snapshot."""

    def __init__(self) -> None:
        self.tables = Tables()
        self.lock = asyncio.Lock()

    def snapshot(self) -> Tables:
        return copy.deepcopy(self.tables)

    def restore(self, snapshot: Tables) -> None:
        self.tables = snapshot
