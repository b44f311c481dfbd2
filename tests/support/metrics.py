"""Reading Prometheus's text exposition in tests."""

from __future__ import annotations


def metric(text: str, sample: str) -> float | None:
    """The value of one sample (name and labels, exactly as exposed); None when absent."""
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == sample:
            return float(value)
    return None
