"""Quiet hours: the hours of the shopper's night when no business-initiated message goes out
(docs/quiet-hours.md).

A window is two wall-clock times in an IANA time zone: quiet from ``start`` (included) to
``end`` (excluded). A window whose start is after its end crosses midnight (21:00-09:00); a
window whose start equals its end is no window at all. Time zones come from the standard
library's ``zoneinfo`` (the system's tz database, else the ``tzdata`` package).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Asia/Kolkata"


@dataclass(frozen=True, slots=True)
class QuietHours:
    """No business-initiated message from ``start`` to ``end``, wall clock in ``zone``."""

    start: time
    end: time
    zone: str = DEFAULT_ZONE

    @property
    def off(self) -> bool:
        return self.start == self.end

    def covers(self, moment: datetime) -> bool:
        """Whether ``moment`` (timezone-aware) falls in the window."""
        return next_allowed(moment, self) != moment

    def until(self, moment: datetime) -> datetime:
        """The first moment at or after ``moment`` outside the window (``moment`` itself when
        it is outside)."""
        return next_allowed(moment, self)

    def describe(self) -> str:
        """``21:00-09:00 Asia/Kolkata``, or ``off``."""
        if self.off:
            return "off"
        return f"{format_clock(self.start)}-{format_clock(self.end)} {self.zone}"


#: Every workspace's window unless it or the deployment chose another.
DEFAULT_QUIET_HOURS = QuietHours(time(21, 0), time(9, 0), DEFAULT_ZONE)
NO_QUIET_HOURS = QuietHours(time(0, 0), time(0, 0), "UTC")


def next_allowed(moment: datetime, window: QuietHours, zone: str | None = None) -> datetime:
    """The first moment at or after ``moment`` when a business-initiated message may go out.

    ``moment`` must be timezone-aware; the answer is in ``moment``'s zone. Outside the window
    that is ``moment`` itself; inside it, the window's end (the first minute after it) on
    the right day of the shopper's calendar. ``zone`` overrides the window's own zone.
    Every business-initiated message (the failed-delivery template, reminders) asks this
    before it is sent; replies inside a conversation the shopper opened do not.
    """
    if moment.tzinfo is None:
        raise ValueError("next_allowed needs a timezone-aware moment")
    if window.off:
        return moment
    tz = ZoneInfo(zone or window.zone)
    local = moment.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    day = local.date()
    start, end = window.start, window.end
    if start < end:  # within one day: 13:00-15:00
        if not start <= clock < end:
            return moment
        opens = day
    elif clock >= start:  # crosses midnight, evening part: 21:00-24:00
        opens = day + timedelta(days=1)
    elif clock < end:  # crosses midnight, morning part: 00:00-09:00
        opens = day
    else:
        return moment
    # A wall time in a DST gap or overlap resolves as zoneinfo does (fold 0): at most an hour
    # off on the one night a year a zone changes its clocks.
    reopened = datetime.combine(opens, end, tzinfo=tz)
    return reopened.astimezone(moment.tzinfo)


def parse_clock(text: str) -> time:
    """``HH:MM`` (24-hour) as a time; ValueError otherwise."""
    hours, sep, minutes = text.partition(":")
    if not sep or len(hours) != 2 or len(minutes) != 2:
        raise ValueError(f"{text[:16]!r} is not HH:MM (24-hour, e.g. 21:00)")
    if not (hours.isdigit() and minutes.isdigit()):
        raise ValueError(f"{text[:16]!r} is not HH:MM (24-hour, e.g. 21:00)")
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        raise ValueError(f"{text[:16]!r} is not a time of day (00:00 to 23:59)")
    return time(h, m)


def format_clock(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def check_zone(name: str) -> str:
    """``name`` when it is an IANA time zone this machine knows; ValueError otherwise."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise ValueError(f"{name[:64]!r} is not an IANA time zone name (e.g. Asia/Kolkata)")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"{name[:64]!r} is not an IANA time zone name (e.g. Asia/Kolkata)"
        ) from exc
    return name


def window_minutes(value: time) -> int:
    """Minutes after midnight (how the window is stored)."""
    return value.hour * 60 + value.minute


def from_minutes(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


def in_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
