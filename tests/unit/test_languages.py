"""The shoppers' languages: every shopper text has its Hindi translation, dates are written for
the language, and the rule that switches a shopper's language."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime

import pytest

import domain.answers as answers
import domain.flows as flows
import domain.opt_out as opt_out
from domain.conversation import ConversationState
from domain.flows import Context, decide
from domain.language import HINDI, language_in
from infrastructure.i18n import load_catalogs
from tests.support.factories import ConversationFactory


def _shopper_texts() -> set[str]:
    texts = {
        v for m in (flows, answers, opt_out) for k, v in vars(m).items() if k.endswith("_TEXT")
    }
    texts |= {a.text for a in flows.ANSWERS.values()}
    texts |= set(flows.REQUESTS.values()) | set(flows.UNUSABLE_NUMBER_TEXTS.values())
    texts |= set(answers._WHAT.values()) | {"this kind of message"}
    return {t for t in texts if isinstance(t, str)}


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_shopper_text_has_a_hindi_translation_with_the_same_placeholders() -> None:
    hindi = load_catalogs().texts(HINDI)
    for text in _shopper_texts():
        assert text in hindi.catalog, f"no Hindi for {text!r}"
        assert _fields(hindi(text)) == _fields(text), text


def test_dates_are_written_in_the_shoppers_language() -> None:
    catalogs = load_catalogs()
    day = date(2023, 6, 23)
    assert flows.date_title(day) == "23 June 2023"
    assert flows.date_title(day, catalogs.texts("hi")) == "23 जून 2023"
    assert flows.date_title(day, catalogs.texts("xx")) == "23 June 2023"  # unknown: English


@pytest.mark.parametrize(
    ("text", "language", "explicit"),
    [
        ("hindi", "hi", True),
        (" Hindi. ", "hi", True),
        ("हिंदी", "hi", True),
        ("हिन्दी", "hi", True),
        ("English", "en", True),
        ("अंग्रेज़ी", "en", True),
        ("कल डिलीवरी करो", "hi", False),
        ("please deliver tomorrow", None, False),
        ("I speak hindi and english", None, False),
    ],
)
def test_what_switches_a_shoppers_language(text: str, language: str | None, explicit: bool) -> None:
    choice = language_in(text)
    assert (choice.language if choice else None) == language
    if choice is not None:
        assert choice.explicit is explicit


def test_a_hindi_reader_is_nudged_in_hindi_and_told_how_to_go_back_to_english() -> None:
    context = Context(
        link="https://x/t",
        support_phone="1",
        support_email="a@b",
        now=datetime(2026, 11, 26, tzinfo=UTC),
        texts=load_catalogs().texts("hi"),
    )
    conversation = ConversationFactory.build(state=ConversationState.OPEN, nudged_at=None)
    decision = decide(
        conversation, button_id=None, text="ok", is_latest=True, action_taken=False, context=context
    )
    assert decision.message is not None
    body = decision.message.body
    assert body.startswith("आप क्या चाहते हैं")
    assert body.endswith('type "English".')
