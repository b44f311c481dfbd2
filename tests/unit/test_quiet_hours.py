"""The quiet-hours rule: when a business-initiated message may go out."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from domain.quiet_hours import (
    DEFAULT_QUIET_HOURS,
    QuietHours,
    check_zone,
    next_allowed,
    parse_clock,
)

IST = ZoneInfo("Asia/Kolkata")


def ist(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=IST)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (ist(20, 20, 59), ist(20, 20, 59)),  # before the window: now
        (ist(20, 21, 0), ist(21, 9, 0)),  # the window starts: next morning
        (ist(20, 23, 0), ist(21, 9, 0)),
        (ist(21, 0, 0), ist(21, 9, 0)),  # after midnight: the same morning
        (ist(21, 8, 59), ist(21, 9, 0)),
        (ist(21, 9, 0), ist(21, 9, 0)),  # the first minute after: now
    ],
)
def test_the_default_window_crosses_midnight_in_india(moment: datetime, expected: datetime) -> None:
    answer = next_allowed(moment.astimezone(UTC), DEFAULT_QUIET_HOURS)
    assert answer == expected
    assert answer.tzinfo is UTC  # in the zone it was asked in


def test_a_window_within_one_day_and_another_zone() -> None:
    siesta = QuietHours(time(13), time(15), "Europe/Madrid")
    madrid = ZoneInfo("Europe/Madrid")
    assert next_allowed(datetime(2026, 7, 1, 14, tzinfo=madrid), siesta) == datetime(
        2026, 7, 1, 15, tzinfo=madrid
    )
    assert next_allowed(datetime(2026, 7, 1, 16, tzinfo=madrid), siesta) == datetime(
        2026, 7, 1, 16, tzinfo=madrid
    )
    # The zone argument overrides the window's own.
    noon_utc = datetime(2026, 7, 1, 13, 30, tzinfo=UTC)
    assert next_allowed(noon_utc, siesta, "UTC") == datetime(2026, 7, 1, 15, tzinfo=UTC)


def test_start_equal_to_end_is_no_quiet_hours() -> None:
    never = QuietHours(time(9), time(9), "Asia/Kolkata")
    assert never.off
    assert not never.covers(ist(20, 23))
    assert next_allowed(ist(20, 23), never) == ist(20, 23)


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_allowed(datetime(2026, 11, 20, 23), DEFAULT_QUIET_HOURS)


@pytest.mark.parametrize("text", ["9:00", "24:00", "21:60", "21-00", "", "ab:cd", "+1:00"])
def test_bad_clock_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"HH:MM|time of day"):
        parse_clock(text)


@pytest.mark.parametrize("name", ["Mars/Base", "", "../etc/passwd", "/etc/localtime", "x" * 80])
def test_unknown_zones_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="IANA"):
        check_zone(name)


def test_known_zones_pass() -> None:
    assert check_zone("America/New_York") == "America/New_York"
    assert parse_clock("00:00") == time(0)
    assert parse_clock("23:59") == time(23, 59)
