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
