"""The shoppers' message catalogs: gettext ``.po`` files read with Babel at start-up
(``locale/<language>/LC_MESSAGES/messages.po``; docs/languages.md)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

from domain.language import ENGLISH, ENGLISH_TEXTS, Catalogs, Texts

LOCALE_DIR = Path(__file__).parent / "locale"


def load_catalogs(locale_dir: Path = LOCALE_DIR) -> Catalogs:
    """Every language with a catalog, and English (the source texts themselves); fuzzy or
    empty translations are left out, so those texts go out in English."""
    by_language: dict[str, Texts] = {ENGLISH: ENGLISH_TEXTS}
    for po in sorted(locale_dir.glob("*/LC_MESSAGES/messages.po")):
        language = po.parent.parent.name
        with po.open("rb") as source:
            catalog = read_po(source, locale=language)
        by_language[language] = Texts(
            language,
            {
                str(m.id): str(m.string)
                for m in catalog
                if m.id and isinstance(m.id, str) and m.string and not m.fuzzy
            },
        )
    return Catalogs(by_language)
