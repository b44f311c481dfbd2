"""The conversations of a period with what became of their shipments, as CSV rows."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime

from application.ports.portal import OutcomeRow, PortalQueries

COLUMNS = (
    "conversation_id",
    "created_at",
    "shipment_id",
    "order_number",
    "tracking_id",
    "reason",
    "courier",
    "state",
    "answer",
    "outcome",
    "next_event",
    "honoured",
    "outcome_at",
)
PAGE = 500


class ExportOutcomes:
    def __init__(self, queries: PortalQueries) -> None:
        self._queries = queries

    async def __call__(self, account_id: int, start: datetime, end: datetime) -> AsyncIterator[str]:
        """The header, then one page of lines at a time (one read each): a large export never
        sits in memory whole."""
        yield _lines([COLUMNS])
        after = 0
        while True:
            rows = await self._queries.outcome_rows(account_id, start, end, after, PAGE)
            if not rows:
                return
            yield _lines([_cells(r) for r in rows])
            after = rows[-1].conversation.id or after
            if len(rows) < PAGE:
                return


def _cells(row: OutcomeRow) -> tuple[object, ...]:
    c, verdict = row.conversation, row.verdict
    honoured = "" if verdict is None or verdict.honoured is None else str(verdict.honoured).lower()
    return (
        c.id,
        c.created_at.isoformat(),
        c.shipment_id,
        _safe(c.order_number),
        _safe(c.tracking_id),
        c.reason.value,
        _safe(c.courier),
        c.state.value,
        row.answer,
        verdict.outcome.value if verdict and verdict.outcome else "",
        verdict.next_event.value if verdict and verdict.next_event else "",
        honoured,
        verdict.outcome_at.isoformat() if verdict and verdict.outcome_at else "",
    )


def _safe(text: str) -> str:
    """A cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) is quoted."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _lines(rows: list[tuple[object, ...]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()
