"""Code comments point inside the repository: at docs/ pages and sections that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for d in ("src", "tests", "bench", "alembic") for p in (ROOT / d).rglob("*.py")]
_LINK = re.compile(r"docs/([\w/.-]+\.md)(?:#([\w-]+))?")
#: Product notes kept outside the repository: a newcomer cannot read them.
_OUTSIDE = re.compile(r"\b(FLOWS|META)\.md\b")
#: Files other work is rewriting now; their reference goes when that work is merged.
_NOT_YET: set[str] = set()


def _anchor(heading: str) -> str:
    # GitHub's rule: lower case, punctuation dropped, spaces to hyphens.
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {
        _anchor(line.lstrip("#")) for line in page.read_text().splitlines() if line.startswith("#")
    }


def test_every_docs_reference_names_an_existing_page_and_section() -> None:
    broken = []
    for source in SOURCES:
        for page, section in _LINK.findall(source.read_text()):
            target = ROOT / "docs" / page
            if not target.is_file() or (section and section not in _anchors(target)):
                broken.append(f"{source.relative_to(ROOT)}: docs/{page}#{section}")
    assert broken == []


def test_no_code_cites_notes_kept_outside_the_repository() -> None:
    citing = {
        str(source.relative_to(ROOT)) for source in SOURCES if _OUTSIDE.search(source.read_text())
    }
    assert citing - _NOT_YET == set()
