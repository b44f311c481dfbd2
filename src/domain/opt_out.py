"""A shopper who wants no more messages: the words that say so, the record kept per workspace
and number, and the texts that confirm it (docs/opt-out.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class OptOutSource(StrEnum):
    """Who changed the shopper's choice last."""

    TEXT = "text"  # the shopper wrote STOP / START (or a Hindi equivalent)
    USER_PREFERENCES = "user_preferences"  # Meta's marketing preference webhook
    PORTAL = "portal"  # someone of the workspace cleared it


class OptOutScope(StrEnum):
    """What the shopper stopped: ``all`` our messages (their own words, which stop every
    template), or only ``marketing`` (Meta's preference, which our utility templates are not:
    recorded and shown, never a reason to skip; docs/opt-out.md)."""

    ALL = "all"
    MARKETING = "marketing"


class OptWord(StrEnum):
    STOP = "stop"
    START = "start"


#: The whole message, after :func:`normalise_words`; a word inside a longer answer ("do not
#: stop the delivery") is no opt-out. Small on purpose: each entry is what shoppers write to
#: mean "no more messages", in English and in Hindi (docs/opt-out.md lists them).
STOP_WORDS = frozenset(
    {
        "stop",
        "stop all",
        "unsubscribe",
        "opt out",
        "optout",
        "रोकें",
        "रोको",
        "बंद",
        "बंद करो",
        "बंद करें",
        "बंद कीजिए",
        "मैसेज बंद करो",
    }
)
START_WORDS = frozenset(
    {
        "start",
        "subscribe",
        "opt in",
        "unstop",
        "शुरू",
        "शुरू करो",
        "शुरू करें",
        "चालू करो",
        "चालू करें",
    }
)

OPTED_OUT_TEXT = (
    "You will not get any more WhatsApp messages from us about your deliveries. "
    "Reply START to get them again."
)
OPTED_IN_TEXT = (
    "You will get WhatsApp messages from us about your deliveries again. Reply STOP to stop them."
)

_PUNCTUATION = re.compile(r"[\s.,!?।\"'()\-_*]+")


def normalise_words(text: str) -> str:
    """Lower case, punctuation and repeated spaces gone: ``" Stop! "`` -> ``"stop"``."""
    return " ".join(_PUNCTUATION.sub(" ", text.casefold()).split())


def opt_word(text: str | None) -> OptWord | None:
    """STOP or START when the whole message says so; anything else is an answer."""
    if not text or len(text) > 40:
        return None
    words = normalise_words(text)
    if words in STOP_WORDS:
        return OptWord.STOP
    if words in START_WORDS:
        return OptWord.START
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class OptOut:
    """One number of one workspace; ``active`` while the shopper stays opted out."""

    id: int | None = None
    account_id: int
    customer_phone: str  # digits, as conversations keep them; never logged in full
    scope: OptOutScope
    active: bool
    source: OptOutSource
    detail: str = ""  # the shopper's words, or Meta's description of the preference
    opted_out_at: datetime
    opted_in_at: datetime | None = None
    updated_at: datetime
