"""A conversation as the console shows it: the portal's masked thread, each message with the
text and buttons the shopper saw and the ticks Meta reported for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from application.use_cases.portal.show_conversation import ConversationShown, ShownMessage
from domain.opt_out import opt_word
from entrypoints.http.portal.conversation_views import (
    ThreadAnswer,
    ThreadItem,
    ThreadMessage,
    ThreadStatus,
    detail,
)


@dataclass(slots=True)
class Row:
    """One line of the timeline; a message carries its ticks (in time order)."""

    item: ThreadItem
    shown: ShownMessage | None = None
    ticks: list[ThreadStatus] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return type(self.item).__name__.removeprefix("Thread").lower()

    @property
    def opt_word(self) -> str | None:
        """``stop`` or ``start`` when the shopper's typed answer opted them out or in."""
        item = self.item
        if not isinstance(item, ThreadAnswer) or item.answer_type != "text":
            return None
        word = opt_word(item.value)
        return word.value if word else None


def timeline(shown: ConversationShown) -> dict[str, Any]:
    view = detail(shown.view)
    every = [
        Row(i, shown=shown.shown.get(i.id)) if isinstance(i, ThreadMessage) else Row(i)
        for i in view.thread
    ]
    by_wamid = {
        r.item.message_id: r
        for r in every
        if isinstance(r.item, ThreadMessage) and r.item.message_id
    }
    rows: list[Row] = []
    for row in every:
        # Meta's tick times are its own clock: one may even precede our record of the send.
        if isinstance(row.item, ThreadStatus) and row.item.message_id in by_wamid:
            by_wamid[row.item.message_id].ticks.append(row.item)
        else:
            rows.append(row)
    return {"conversation": view.conversation, "rows": _after_what_they_answer(rows, by_wamid)}


def _after_what_they_answer(rows: list[Row], by_wamid: dict[str, Row]) -> list[Row]:
    """Meta stamps an answer to the second, our send to the microsecond: an answer in the
    same second as its message would show above it."""
    ordered = list(rows)
    for row in rows:
        answered = (
            by_wamid.get(row.item.in_reply_to or "") if isinstance(row.item, ThreadAnswer) else None
        )
        if answered is not None and ordered.index(answered) > ordered.index(row):
            ordered.remove(row)
            ordered.insert(ordered.index(answered) + 1, row)
    return ordered
