"""What a log line never shows (``infrastructure.logging``): secrets by field name, phone
numbers anywhere in text. The names are remembered (one line per event in the worker), so
the same field is hidden every time, whatever its case."""

from __future__ import annotations

from typing import Any

from domain.errors import UnreadableRecord
from infrastructure.logging import _MAX_KINDS, FailureLog, _redact


def _line(**fields: Any) -> dict[str, Any]:
    return dict(_redact(None, "info", {"event": "fdr event", **fields}))


def test_secret_fields_and_phone_numbers_are_hidden_on_every_line() -> None:
    for _ in range(3):  # the second and third lines ask the remembered names
        line = _line(
            access_token="EAAB-secret",
            Authorization="Bearer x",
            app_SECRET="s",
            detail="sent to +919812345678",
            shipment_id=50000001,
            color_message="\x1b[1m",
        )
        assert line == {
            "event": "fdr event",
            "access_token": "***",
            "Authorization": "***",
            "app_SECRET": "***",
            "detail": "sent to *********5678",
            "shipment_id": 50000001,
        }


class _Rows:
    """A ``FailureLog`` an hour apart per row on a clock the test moves, its lines kept, and
    as many rows that cannot be read as it keeps apart before it forgets stale ones."""

    def __init__(self) -> None:
        self.now = 0.0
        self.lines: list[dict[str, object]] = []
        self.log = FailureLog(self, interval=3600.0, monotonic=lambda: self.now)
        self.rows = [
            UnreadableRecord(f"wa_conversations row {n}: a zero date") for n in range(_MAX_KINDS)
        ]

    def warning(self, message: str, **fields: object) -> None:
        self.lines.append({"event": message, **fields})

    def meet(self, exc: UnreadableRecord) -> None:
        self.log.failed("not looked at", exc, apart=str(exc))


def test_a_failure_log_keeps_rows_apart_and_forgets_those_past_their_interval() -> None:
    f = _Rows()
    for _ in range(2):  # two passes meet every row: one line per row
        for exc in f.rows:
            f.meet(exc)
    assert len(f.lines) == _MAX_KINDS
    f.now = 3600.0  # an hour on: logged again
    f.meet(f.rows[0])
    assert len(f.lines) == _MAX_KINDS + 1
    assert "row 0:" in str(f.lines[-1]["error"])
    assert len(f.log._kinds) == 1  # the others, past their interval, forgotten


def test_a_failure_log_counts_a_row_s_failures_since_its_line_when_it_forgets_others() -> None:
    f = _Rows()
    for exc in f.rows:  # a pass meets every row: one line each
        f.meet(exc)
    for f.now in (30.0, 60.0):  # two more passes meet row 0 alone: not logged, counted
        f.meet(f.rows[0])
    f.now = 3600.0  # an hour on, the others forgotten: row 0 logged with its count
    f.meet(f.rows[0])
    assert len(f.lines) == _MAX_KINDS + 1
    assert f.lines[-1]["also_failed"] == 2
