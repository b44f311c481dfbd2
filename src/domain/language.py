"""The shopper's language: texts from message catalogs, dates written for the language, and the
rule that switches a shopper's language (docs/languages.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from babel.dates import format_date

ENGLISH = "en"
HINDI = "hi"
#: The languages shipped with a catalog and templates; the source texts are English.
LANGUAGES = (ENGLISH, HINDI)

_SWITCH_WORDS = {
    "hindi": HINDI,
    "हिंदी": HINDI,
    "हिन्दी": HINDI,
    "english": ENGLISH,
    "अंग्रेज़ी": ENGLISH,
    "अंग्रेजी": ENGLISH,
    "इंग्लिश": ENGLISH,
}
_DEVANAGARI = re.compile(r"[\u0900-\u097F]")


@dataclass(frozen=True, slots=True)
class Texts:
    """One language's catalog (English source text -> translation); a text it lacks is sent
    in English rather than not at all."""

    language: str = ENGLISH
    catalog: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, text: str) -> str:
        return self.catalog.get(text) or text

    def date(self, day: date) -> str:
        """``23 June 2023`` / ``23 जून 2023``: a date button's title (at most 20 characters)."""
        return _date_title(day, self.language)


@lru_cache(maxsize=256)
def _date_title(day: date, language: str) -> str:
    """Babel's formatting costs about a tenth of a millisecond; every date picker of the day
    offers the same few dates (answers are a hot path)."""
    return format_date(day, "d MMMM y", locale=language)


ENGLISH_TEXTS = Texts()


@dataclass(frozen=True, slots=True)
class Catalogs:
    """Every loaded language; an unknown language falls back to English."""

    by_language: Mapping[str, Texts] = field(default_factory=dict)

    def texts(self, language: str | None) -> Texts:
        return self.by_language.get(language or ENGLISH, ENGLISH_TEXTS)


def normalise(language: str | None) -> str:
    """A language code as templates and settings keep it: ``hi``, ``en`` (``en_US`` -> ``en``)."""
    code = (language or ENGLISH).strip().replace("-", "_").split("_")[0].lower()
    return code or ENGLISH


@dataclass(frozen=True, slots=True)
class LanguageChoice:
    language: str
    explicit: bool  # the whole message asked for the language ("hindi", "English")


def language_in(text: str | None) -> LanguageChoice | None:
    """The language a shopper's text chooses: the name of a language typed alone switches to
    it; any Devanagari letter in the text switches to Hindi; anything else chooses nothing."""
    if not text:
        return None
    word = text.strip().strip(".!?").casefold()
    if word in _SWITCH_WORDS:
        return LanguageChoice(_SWITCH_WORDS[word], explicit=True)
    if _DEVANAGARI.search(text):
        return LanguageChoice(HINDI, explicit=False)
    return None
