"""What a log line never shows (``infrastructure.logging``): secrets by field name, phone
numbers anywhere in text. The names are remembered (one line per event in the worker), so
the same field is hidden every time, whatever its case."""

from __future__ import annotations

from typing import Any

from infrastructure.logging import _redact


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


def test_a_failure_log_keeps_rows_apart_and_forgets_those_past_their_interval() -> None:
    from domain.errors import UnreadableRecord
    from infrastructure.logging import _MAX_KINDS, FailureLog

    now = [0.0]
    lines: list[dict[str, object]] = []

    class Logger:
        def warning(self, message: str, **fields: object) -> None:
            lines.append({"event": message, **fields})

    log = FailureLog(Logger(), interval=3600.0, monotonic=lambda: now[0])
    rows = [UnreadableRecord(f"wa_conversations row {n}: a zero date") for n in range(_MAX_KINDS)]
    for _ in range(2):  # two passes meet every row: one line per row
        for exc in rows:
            log.failed("not looked at", exc, apart=str(exc))
    assert len(lines) == _MAX_KINDS
    now[0] = 3600.0  # an hour on: logged again
    log.failed("not looked at", rows[0], apart=str(rows[0]))
    assert len(lines) == _MAX_KINDS + 1
    assert "row 0:" in str(lines[-1]["error"])
    assert len(log._kinds) == 1  # the others, past their interval, forgotten


def test_a_failure_log_counts_a_row_s_failures_since_its_line_when_it_forgets_others() -> None:
    from domain.errors import UnreadableRecord
    from infrastructure.logging import _MAX_KINDS, FailureLog

    now = [0.0]
    lines: list[dict[str, object]] = []

    class Logger:
        def warning(self, message: str, **fields: object) -> None:
            lines.append({"event": message, **fields})

    log = FailureLog(Logger(), interval=3600.0, monotonic=lambda: now[0])
    rows = [UnreadableRecord(f"wa_conversations row {n}: a zero date") for n in range(_MAX_KINDS)]
    for exc in rows:  # a pass meets every row: one line each
        log.failed("not looked at", exc, apart=str(exc))
    for now[0] in (30.0, 60.0):  # two more passes meet row 0 alone: not logged, counted
        log.failed("not looked at", rows[0], apart=str(rows[0]))
    now[0] = 3600.0  # an hour on, the others forgotten: row 0 logged with its count
    log.failed("not looked at", rows[0], apart=str(rows[0]))
    assert len(lines) == _MAX_KINDS + 1
    assert lines[-1]["also_failed"] == 2
