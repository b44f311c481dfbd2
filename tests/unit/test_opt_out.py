"""Which messages opt a shopper out or back in, and how Meta's marketing preference is read
(docs/opt-out.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from domain.opt_out import OptWord, opt_word
from domain.reachability import Unreachable, signal_key, unreachable_by
from domain.webhook import ElementProblemKind
from infrastructure.meta.webhook import MetaWebhookFormat
from infrastructure.meta.webhook_builder import user_preferences


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        " stop ",
        "Stop!",
        "stop.",
        "UNSUBSCRIBE",
        "Stop All",
        "रोकें",
        "बंद",
        "बंद करो",
        "बंद  करो।",
    ],
)
def test_the_whole_message_stops(text: str) -> None:
    assert opt_word(text) is OptWord.STOP


@pytest.mark.parametrize("text", ["START", "start!", "शुरू", "शुरू करो", "Subscribe"])
def test_the_whole_message_starts_again(text: str) -> None:
    assert opt_word(text) is OptWord.START


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "don't stop the delivery",
        "stop calling me, deliver tomorrow",
        "please start delivery",
        "stopp",
        "स्टॉप नहीं",
        "stop " * 20,
    ],
)
def test_an_answer_that_mentions_a_word_is_an_answer(text: str | None) -> None:
    assert opt_word(text) is None


def test_meta_marketing_preference_is_read_per_element() -> None:
    parsed = MetaWebhookFormat().decode(
        user_preferences("917891971009", "stop", timestamp=1_790_000_000)
    )

    [change] = parsed.preferences
    assert change.wa_id == "917891971009"
    assert change.stopped
    assert change.category == "marketing_messages"
    assert change.timestamp == datetime.fromtimestamp(1_790_000_000, UTC)
    assert parsed.other_fields == ()
    assert parsed.problems == ()


def test_an_unreadable_preference_is_a_problem_of_its_element_only() -> None:
    body = json.loads(user_preferences("917891971009", "resume"))
    value = body["entry"][0]["changes"][0]["value"]
    good = value["user_preferences"][0]
    value["user_preferences"] = [{**good, "value": "maybe"}, good, {**good, "wa_id": "x y"}]

    parsed = MetaWebhookFormat().decode(json.dumps(body).encode())

    assert [c.stopped for c in parsed.preferences] == [False]
    assert [p.element for p in parsed.problems] == [
        "entry[0].changes[0].value.user_preferences[0]",
        "entry[0].changes[0].value.user_preferences[2]",
    ]
    assert {p.kind for p in parsed.problems} == {ElementProblemKind.UNREADABLE}


def test_which_meta_errors_mean_the_shopper_is_out_of_reach() -> None:
    assert unreachable_by(131026) is Unreachable.UNDELIVERABLE
    assert unreachable_by(131047) is None  # the 24-hour window: a template still reaches them
    assert unreachable_by(None) is None
    assert signal_key(conversation_id=5, shipment_id=1, status_log_id=2) == "conversation:5"
    assert signal_key(conversation_id=None, shipment_id=1, status_log_id=2) == "attempt:1:2"
