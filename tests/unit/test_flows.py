"""The conversation rules of docs/conversation.md, decided without any I/O."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from application.follow_ups import FollowUpSender
from application.sending import SendStep
from application.services import SenderResolver
from domain.conversation import ConversationState
from domain.flows import ANSWERS, Context, date_title, decide, deliverable_dates
from domain.messages import InteractiveMessage, TextMessage
from domain.ndr import NdrActionKind
from domain.reasons import FdrReason
from infrastructure.db.seed_data import TEMPLATES_V1
from infrastructure.local.activity import RecordingActivityPublisher
from tests.conftest import UowFactory
from tests.support.doubles import (
    DEFAULT_SENDER,
    FixedClock,
    NoLimit,
    ScriptedWhatsApp,
    StaticDirectory,
)
from tests.support.factories import ConversationFactory

WEDNESDAY = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
CONTEXT = Context(
    link="https://wa.example.com/track/whatsapp/1",
    support_phone="+91-9876543210",
    support_email="help@example.com",
    now=WEDNESDAY,
)


def test_every_shipped_button_has_an_answer() -> None:
    shipped = {b["id"] for t in TEMPLATES_V1 for b in t["buttons"]}
    assert shipped <= set(ANSWERS)


def test_deliverable_dates_skip_sundays_and_holidays() -> None:
    saturday = date(2026, 11, 28)
    assert deliverable_dates(date(2026, 11, 27), 3) == [
        saturday,
        date(2026, 11, 30),
        date(2026, 12, 1),
    ]
    assert deliverable_dates(date(2026, 11, 27), 2, frozenset({saturday})) == [
        date(2026, 11, 30),
        date(2026, 12, 1),
    ]
    assert date_title(date(2026, 9, 30)) == "30 September 2026"
    assert len(date_title(date(2026, 9, 30))) <= 20


def test_choose_date_offers_three_dates_as_buttons() -> None:
    conversation = ConversationFactory.build(state=ConversationState.OPEN)
    decision = decide(
        conversation,
        button_id="choose_date",
        text=None,
        is_latest=True,
        action_taken=False,
        context=CONTEXT,
    )
    assert isinstance(decision.message, InteractiveMessage)
    assert [b.id for b in decision.message.buttons] == [
        "date-2026-11-26",
        "date-2026-11-27",
        "date-2026-11-28",
    ]
    assert decision.state is ConversationState.AWAITING_DATE
    assert decision.action is None


def test_a_chosen_date_reschedules() -> None:
    conversation = ConversationFactory.build(state=ConversationState.AWAITING_DATE)
    decision = decide(
        conversation,
        button_id="date-2026-11-27",
        text=None,
        is_latest=True,
        action_taken=False,
        context=CONTEXT,
    )
    assert decision.action is NdrActionKind.RESCHEDULE
    assert decision.delivery_date == date(2026, 11, 27)
    assert isinstance(decision.message, TextMessage)
    assert "27 November 2026" in decision.message.body


@pytest.mark.parametrize("day", ["date-2026-11-25", "date-2027-01-30", "date-nonsense"])
def test_a_date_no_longer_offered_takes_no_action(day: str) -> None:
    conversation = ConversationFactory.build(state=ConversationState.AWAITING_DATE)
    decision = decide(
        conversation, button_id=day, text=None, is_latest=True, action_taken=False, context=CONTEXT
    )
    assert decision.action is None


def test_an_alternate_number_is_read_from_free_text() -> None:
    conversation = ConversationFactory.build(
        state=ConversationState.OPEN, reason=FdrReason.CUSTOMER_UNREACHABLE
    )
    decision = decide(
        conversation,
        button_id=None,
        text="call me on +91 98765-43210",
        is_latest=True,
        action_taken=False,
        context=CONTEXT,
    )
    assert decision.action is NdrActionKind.UPDATE_PHONE
    assert decision.phone == "919876543210"
    assert isinstance(decision.message, TextMessage)
    assert "9876543210" not in decision.message.body  # masked


def test_disputes_reattempt_with_the_flag() -> None:
    conversation = ConversationFactory.build(state=ConversationState.OPEN)
    for button in ("not_refused", "not_cancelled"):
        decision = decide(
            conversation,
            button_id=button,
            text=None,
            is_latest=True,
            action_taken=False,
            context=CONTEXT,
        )
        assert (decision.action, decision.disputed_fake_attempt) == (NdrActionKind.REATTEMPT, True)
        assert isinstance(decision.message, TextMessage)
        assert "26 November 2026" in decision.message.body


def test_answers_after_an_action_do_not_act_again() -> None:
    resolved = ConversationFactory.build(state=ConversationState.RESOLVED)
    for button in ("cancel", "reattempt", "choose_date", "date-2026-11-27"):
        decision = decide(
            resolved,
            button_id=button,
            text=None,
            is_latest=True,
            action_taken=True,
            context=CONTEXT,
        )
        assert decision.action is None, button
        assert isinstance(decision.message, TextMessage)
        assert "already" in decision.message.body
    link = decide(
        resolved,
        button_id="update_address",
        text=None,
        is_latest=True,
        action_taken=True,
        context=CONTEXT,
    )
    assert isinstance(link.message, TextMessage)
    assert CONTEXT.link in link.message.body


def test_an_old_conversation_has_expired() -> None:
    conversation = ConversationFactory.build(state=ConversationState.OPEN)
    decision = decide(
        conversation,
        button_id="cancel",
        text=None,
        is_latest=False,
        action_taken=False,
        context=CONTEXT,
    )
    assert decision.action is None
    assert isinstance(decision.message, TextMessage)
    assert "expired" in decision.message.body


def test_free_text_is_nudged_once() -> None:
    conversation = ConversationFactory.build(state=ConversationState.OPEN)
    first = decide(
        conversation, button_id=None, text="hi", is_latest=True, action_taken=False, context=CONTEXT
    )
    assert first.nudge
    nudged = dataclasses.replace(conversation, nudged_at=WEDNESDAY)
    second = decide(
        nudged, button_id=None, text="hi", is_latest=True, action_taken=False, context=CONTEXT
    )
    assert second.message is None


async def test_no_free_form_message_outside_the_24_hour_window(new_uow: UowFactory) -> None:
    whatsapp = ScriptedWhatsApp()
    clock = FixedClock(WEDNESDAY)
    step_uow = new_uow()
    sender = FollowUpSender(
        step_uow,
        SenderResolver(StaticDirectory(), DEFAULT_SENDER),
        SendStep(step_uow, whatsapp, NoLimit(), clock),
        RecordingActivityPublisher(),
        clock,
    )
    async with new_uow() as uow:
        conversation = await uow.conversations.add(
            ConversationFactory.build(
                state=ConversationState.OPEN,
                sender_connection_id=0,
                last_customer_message_at=WEDNESDAY - timedelta(hours=25),
            )
        )
        await uow.commit()
    assert conversation is not None
    late = await sender.send(conversation, TextMessage(body="hello"), client_ref="late")
    assert not late.sent
    assert "24-hour" in late.why
    conversation.last_customer_message_at = WEDNESDAY - timedelta(hours=23)
    in_time = await sender.send(conversation, TextMessage(body="hello"), client_ref="in-time")
    again = await sender.send(conversation, TextMessage(body="hello"), client_ref="in-time")
    assert in_time.sent
    assert not again.sent  # the same reference is never sent twice
    assert len(whatsapp.sent) == 1
