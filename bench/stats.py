"""Percentiles and moving-window counts, without numpy."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0-100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most events inside any half-open window ``[t, t + window)``: a moving window, as
    Meta counts throughput, not calendar seconds."""
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        end = bisect.bisect_left(ordered, start + window, lo=i)
        best = max(best, end - i)
    return best


def steady_rate(times: Sequence[float], trim: float = 0.1) -> float:
    """Events per second between the ``trim`` and ``1 - trim`` quantiles of ``times`` (the
    ramp-up and the tail cut off)."""
    ordered = sorted(times)
    if len(ordered) < 10:
        return math.nan
    lo = int(len(ordered) * trim)
    hi = int(len(ordered) * (1 - trim)) - 1
    span = ordered[hi] - ordered[lo]
    return (hi - lo) / span if span > 0 else math.nan


def mib(n_bytes: float) -> float:
    return round(n_bytes / (1024 * 1024), 1)


def per_second(times: Sequence[float]) -> list[int]:
    """How many events fell in each whole second from the first one."""
    if not times:
        return []
    first = min(times)
    counts = [0] * (int(max(times) - first) + 1)
    for t in times:
        counts[int(t - first)] += 1
    return counts
