"""No dead ends: an ESB refusal leaves the shopper other options, and an alternate number is
read from free text and refused, with a reason, when the courier cannot use it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from domain.conversation import Conversation, ConversationState
from domain.flows import ALREADY_TEXT, Context, Decision, decide, refusal
from domain.messages import InteractiveMessage, QuickReply, TextMessage
from domain.ndr import NdrActionKind
from domain.phone import NumberProblem, mobile_number_in
from domain.reasons import FdrReason
from infrastructure.config import ConfigError, load_config
from tests.support.factories import ConversationFactory

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
UNREACHABLE_BUTTONS = (
    QuickReply("reattempt", "Reattempt delivery"),
    QuickReply("alt_number", "Alternate number"),
    QuickReply("cancel", "Cancel order"),
)
CONTEXT = Context(
    link="https://wa.example.com/track/whatsapp/1",
    support_phone="+91-9876543210",
    support_email="help@example.com",
    now=NOW,
    options=UNREACHABLE_BUTTONS,
)


def _conversation(state: ConversationState, **changes: object) -> Conversation:
    return ConversationFactory.build(state=state, reason=FdrReason.CUSTOMER_UNREACHABLE, **changes)


def _answer(
    conversation: Conversation,
    *,
    button: str | None = None,
    text: str | None = None,
    context: Context = CONTEXT,
    refused: frozenset[NdrActionKind] = frozenset(),
) -> Decision:
    return decide(
        conversation,
        button_id=button,
        text=text,
        is_latest=True,
        action_taken=False,
        context=context,
        refused=refused,
    )


def _write(conversation: Conversation, text: str, context: Context = CONTEXT) -> Decision:
    return _answer(conversation, text=text, context=context)


def _body(decision: Decision) -> str:
    assert decision.message is not None
    return decision.message.body


# -- alternate numbers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("Call 9876543210 after 5pm", "919876543210"),
        ("my no is +91 98765-43210", "919876543210"),
        ("pls call on 09876543210 tmrw", "919876543210"),
        ("1800 11 4000 is the shop, I am on 98765 43210", "919876543210"),
    ],
)
def test_a_mobile_number_is_found_inside_free_text(text: str, digits: str) -> None:
    found = mobile_number_in(text)
    assert found.number is not None
    assert found.number.digits == digits
    decision = _write(_conversation(ConversationState.AWAITING_PHONE), text)
    assert (decision.action, decision.phone) == (NdrActionKind.UPDATE_PHONE, digits)
    assert decision.state is ConversationState.RESOLVED


@pytest.mark.parametrize(
    ("text", "problem", "says"),
    [
        ("call +1 650 253 0000", NumberProblem.ABROAD, "+1 number from abroad"),
        ("1800 11 4000", NumberProblem.TOLL_FREE, "toll-free"),
        ("+91 1800 123 4567", NumberProblem.TOLL_FREE, "toll-free"),
        ("office 011 2345 6789", NumberProblem.LANDLINE, "landline"),
    ],
)
def test_numbers_the_courier_cannot_use_get_a_reply_saying_why(
    text: str, problem: NumberProblem, says: str
) -> None:
    assert mobile_number_in(text).problem is problem
    for state in (ConversationState.OPEN, ConversationState.AWAITING_PHONE):
        decision = _write(_conversation(state), text)
        assert decision.action is None, state
        assert says in _body(decision)
        assert "mobile number" in _body(decision)
        assert decision.state is None  # still waiting for a number


def test_a_second_wrong_try_gets_a_hint_and_no_try_gets_silence() -> None:
    asked = _conversation(ConversationState.AWAITING_PHONE)
    first = _write(asked, "1800 11 4000")
    assert first.nudge
    assert "for example" not in _body(first)
    tried = dataclasses.replace(asked, nudged_at=NOW)
    for text in ("1800 11 4000", "my number is 98765", "ok"):
        later = _write(tried, text)
        assert "for example 8123456789 or +91 81234 56789" in _body(later), text
        assert CONTEXT.link in _body(later)
        assert later.action is None
    assert "could not find a phone number" in _body(_write(tried, "ok"))


def test_the_region_decides_whose_mobiles_are_accepted() -> None:
    us = dataclasses.replace(CONTEXT, phone_region="US")
    american = _write(_conversation(ConversationState.AWAITING_PHONE), "call (650) 253-0000", us)
    assert american.phone == "16502530000"
    indian = _write(_conversation(ConversationState.AWAITING_PHONE), "+91 98765 43210", us)
    assert indian.action is None
    assert "country code +1" in _body(indian)
    assert load_config({"WA_DEFAULT_PHONE_REGION": "us"}, env_file=None).default_phone_region == (
        "US"
    )
    with pytest.raises(ConfigError, match="WA_DEFAULT_PHONE_REGION"):
        load_config({"WA_DEFAULT_PHONE_REGION": "India"}, env_file=None)


# -- ESB refusals ------------------------------------------------------------------------


def test_a_refusal_tells_the_truth_and_offers_what_is_left() -> None:
    message = refusal(
        NdrActionKind.CANCEL, refused=frozenset({NdrActionKind.CANCEL}), context=CONTEXT
    )
    assert isinstance(message, InteractiveMessage)
    assert "could not cancel your order" in message.body
    assert "support team has been told" in message.body
    assert CONTEXT.support_phone in message.body
    assert [b.id for b in message.buttons] == ["reattempt", "alt_number"]
    # An alternate number is an update_phone: refused, its button goes too.
    both = frozenset({NdrActionKind.CANCEL, NdrActionKind.UPDATE_PHONE})
    left = refusal(NdrActionKind.UPDATE_PHONE, refused=both, context=CONTEXT)
    assert isinstance(left, InteractiveMessage)
    assert [b.id for b in left.buttons] == ["reattempt"]
    everything = both | {NdrActionKind.REATTEMPT}
    assert isinstance(
        refusal(NdrActionKind.REATTEMPT, refused=everything, context=CONTEXT), TextMessage
    )


def test_after_a_refusal_the_refused_option_says_so_and_the_others_still_work() -> None:
    needs_person = _conversation(ConversationState.NEEDS_PERSON)
    refused = frozenset({NdrActionKind.CANCEL})

    def tap(button: str) -> Decision:
        return _answer(needs_person, button=button, refused=refused)

    again = tap("cancel")
    assert again.action is None
    assert _body(again) != ALREADY_TEXT
    assert "could not cancel your order" in _body(again)
    assert isinstance(again.message, InteractiveMessage)
    assert [b.id for b in again.message.buttons] == ["reattempt", "alt_number"]
    assert tap("reattempt").action is NdrActionKind.REATTEMPT
    assert tap("alt_number").state is ConversationState.AWAITING_PHONE
    typed = _write(needs_person, "call 98765 43210")
    assert typed.action is NdrActionKind.UPDATE_PHONE


def test_a_refused_date_or_number_is_not_asked_for_again() -> None:
    awaiting = ConversationFactory.build(state=ConversationState.NEEDS_PERSON)
    picked = _answer(
        awaiting, button="date-2026-11-27", refused=frozenset({NdrActionKind.RESCHEDULE})
    )
    assert picked.action is None
    assert "could not move your delivery" in _body(picked)
    typed = _answer(
        _conversation(ConversationState.NEEDS_PERSON),
        text="try 98765 43210",
        refused=frozenset({NdrActionKind.UPDATE_PHONE}),
    )
    assert typed.action is None
    assert "could not give your new number" in _body(typed)


def test_a_refusal_needs_a_person_until_another_option_is_acted_on() -> None:
    conversation = _conversation(ConversationState.OPEN)
    steps = [
        (ConversationState.RESOLVED, True),  # the ESB refused
        (ConversationState.AWAITING_PHONE, False),  # asking for a number keeps it listed
        (ConversationState.AWAITING_DATE, False),
        (ConversationState.RESOLVED, False),  # another option acted on
        (None, True),  # resolved stays resolved
    ]
    seen = []
    for decided, refused in steps:
        conversation.answered(decided, refused=refused)
        seen.append(conversation.state)
    assert seen == [
        ConversationState.NEEDS_PERSON,
        ConversationState.NEEDS_PERSON,
        ConversationState.NEEDS_PERSON,
        ConversationState.RESOLVED,
        ConversationState.RESOLVED,
    ]
