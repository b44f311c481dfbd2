"""One event of a batch (``notify.batch``): its state through the phases, and its outcome.

An event's outcome, or the error that makes it one to deliver again, is that event's alone
(``Handled``; ``application.isolation.isolated`` keeps one event's step from failing the batch).
"""

from __future__ import annotations

from dataclasses import dataclass

from application.use_cases.notify.results import Notified
from domain.conversation import Conversation
from domain.errors import SendError
from domain.failed_delivery import FailedDelivery
from domain.messages import OutgoingMessage, TemplateMessage
from domain.planning import Plan, Skip
from domain.settings import SenderConnection

#: An event's outcome, or the error that makes it one to deliver again.
Handled = Notified | Exception


@dataclass(slots=True)
class Start:
    """An event to be sent: its plan, its limiter slot (or the error booking it), then its
    records. ``come``: the slot had come when the records were written (the message is then
    written in flight with them: docs/sending.md); ``over_cap``: the workspace's monthly cap
    was reached when they were (nothing written for it: its budget skip)."""

    index: int
    fdr: FailedDelivery
    plan: Plan
    sender: SenderConnection
    slot: float | Exception = 0.0
    come: bool = False
    conversation: Conversation | None = None
    message: OutgoingMessage | None = None
    content: TemplateMessage | None = None
    mismatch: str = ""
    over_cap: Skip | None = None
    error: SendError | None = None
