"""Classifying a failed delivery into one of the nine reasons, from rules kept as data."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from domain.failed_delivery import FailedDelivery
from domain.reasons import FdrReason


class RuleSource(StrEnum):
    NDR_CODE = "ndr_code"  # the courier aggregator's numeric NDR code
    TEXT = "text"  # words found in the NDR description or the courier's remarks


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasonRule:
    source: RuleSource
    pattern: str
    reason: FdrReason
    priority: int = 100  # lower wins among rules of the same source


@dataclass(frozen=True, slots=True)
class Classification:
    reason: FdrReason
    matched: str  # the code or text that decided it (the raw text when unknown)


_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalise(text: str) -> str:
    return " " + _NON_WORD.sub(" ", text.lower()).strip() + " "


def classify(fdr: FailedDelivery, rules: Iterable[ReasonRule]) -> Classification:
    """The code first, then the NDR description, then the courier's remarks (docs/reasons.md)."""
    ordered = sorted(rules, key=lambda r: (r.priority, r.pattern))
    if fdr.ndr_code is not None:
        code = str(fdr.ndr_code)
        for rule in ordered:
            if rule.source is RuleSource.NDR_CODE and rule.pattern.strip() == code:
                return Classification(rule.reason, f"ndr_code={code}")
    texts = [t for t in (fdr.ndr_description, fdr.remarks, fdr.latest_remark) if t.strip()]
    for text in texts:
        haystack = normalise(text)
        for rule in ordered:
            if rule.source is RuleSource.TEXT and normalise(rule.pattern) in haystack:
                return Classification(rule.reason, text)
    raw = " | ".join(texts)
    if fdr.ndr_code is not None:
        raw = f"ndr_code={fdr.ndr_code} {raw}".strip()
    return Classification(FdrReason.UNKNOWN, raw)
