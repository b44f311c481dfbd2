"""The NDR conversation of FLOWS.md §3: what each answer sends next and asks of logistics.

The table is data (``ANSWERS``); ``decide`` applies it to a conversation and an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

from domain.conversation import Conversation, ConversationState
from domain.errors import InvalidPhoneNumber
from domain.messages import InteractiveMessage, QuickReply, TextMessage
from domain.ndr import NdrActionKind
from domain.phone import PhoneNumber
from domain.reasons import FdrReason

#: Delivery dates are the shopper's local dates.
IST = timezone(timedelta(hours=5, minutes=30), "IST")
DATE_BUTTON_PREFIX = "date-"
DATE_CHOICES = 3


class Step(StrEnum):
    DATE_PICKER = "date_picker"  # send the next deliverable dates as buttons
    TEXT = "text"  # send a text


@dataclass(frozen=True, slots=True)
class Answer:
    step: Step
    text: str  # may use {link}, {next_day}, {support_phone}, {support_email}
    action: NdrActionKind | None = None
    disputed_fake_attempt: bool = False
    state: ConversationState = ConversationState.OPEN

    @property
    def leads_to_action(self) -> bool:
        return self.action is not None or self.state in (
            ConversationState.AWAITING_DATE,
            ConversationState.AWAITING_PHONE,
        )


_REATTEMPT_PROMISE = "Thank you. We will try to deliver your order again on {next_day}."
_APOLOGY = "We are sorry for the trouble. We will try to deliver your order again on {next_day}."
CANCEL_TEXT = (
    "Thank you for your response. As requested by you we will cancel your order. "
    "Hope to see you again!"
)

ANSWERS: dict[str, Answer] = {
    "choose_date": Answer(
        Step.DATE_PICKER,
        "Please help us by selecting your preferred delivery date",
        state=ConversationState.AWAITING_DATE,
    ),
    "reattempt": Answer(
        Step.TEXT, _REATTEMPT_PROMISE, NdrActionKind.REATTEMPT, state=ConversationState.RESOLVED
    ),
    "alt_number": Answer(
        Step.TEXT,
        "Please reply with an alternate phone number we can call, or add it here: {link}",
        state=ConversationState.AWAITING_PHONE,
    ),
    "update_address": Answer(Step.TEXT, "Please update your delivery address here: {link}"),
    "not_refused": Answer(
        Step.TEXT,
        _APOLOGY,
        NdrActionKind.REATTEMPT,
        disputed_fake_attempt=True,
        state=ConversationState.RESOLVED,
    ),
    "not_cancelled": Answer(
        Step.TEXT,
        _APOLOGY,
        NdrActionKind.REATTEMPT,
        disputed_fake_attempt=True,
        state=ConversationState.RESOLVED,
    ),
    "cancel": Answer(
        Step.TEXT, CANCEL_TEXT, NdrActionKind.CANCEL, state=ConversationState.RESOLVED
    ),
    "confirm_cancel": Answer(
        Step.TEXT, CANCEL_TEXT, NdrActionKind.CANCEL, state=ConversationState.RESOLVED
    ),
    "pay_online": Answer(Step.TEXT, "You can pay for your order online here: {link}"),
    "support": Answer(
        Step.TEXT, "You can reach our support team at {support_phone} or {support_email}."
    ),
}

RESCHEDULED_TEXT = "Thank you. Your delivery is rescheduled to {date}."
PHONE_TEXT = "Thank you. The courier will call you on {phone} for the next attempt."
EXPIRED_TEXT = "This request has expired. Please use the latest message about your order."
ALREADY_TEXT = "We already have your answer for this order. Thank you!"
NUDGE_TEXT = "Please use the buttons in our message to tell us what you would like us to do."


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What the texts need besides the conversation."""

    link: str
    support_phone: str
    support_email: str
    now: datetime
    holidays: frozenset[date] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The next message (if any), the action (if any) and the conversation's next state."""

    message: InteractiveMessage | TextMessage | None = None
    action: NdrActionKind | None = None
    delivery_date: date | None = None
    phone: str | None = None
    disputed_fake_attempt: bool = False
    state: ConversationState | None = None  # None: unchanged
    nudge: bool = False  # this decision spends the conversation's one "use the buttons"
    why: str = ""  # for the record


def deliverable_dates(
    after: date, count: int, holidays: frozenset[date] = frozenset()
) -> list[date]:
    """The next ``count`` days after ``after`` that are not Sundays or holidays."""
    found: list[date] = []
    day = after
    while len(found) < count:
        day += timedelta(days=1)
        if day.weekday() != 6 and day not in holidays:
            found.append(day)
    return found


def date_title(day: date) -> str:
    """``23 June 2023``: the seed's button title (at most 17 characters)."""
    return f"{day.day} {day.strftime('%B')} {day.year}"


def local_today(now: datetime) -> date:
    return now.astimezone(IST).date()


def decide(
    conversation: Conversation,
    *,
    button_id: str | None,
    text: str | None,
    is_latest: bool,
    action_taken: bool,
    context: Context,
) -> Decision:
    """The answer to one shopper message (a tap when ``button_id`` is set, else free text)."""
    today = local_today(context.now)
    if not is_latest or conversation.state is ConversationState.EXPIRED:
        return Decision(message=TextMessage(body=EXPIRED_TEXT), why="expired")
    if button_id is not None:
        if button_id.startswith(DATE_BUTTON_PREFIX):
            return _date_answer(conversation, button_id, today, action_taken, context)
        answer = ANSWERS.get(button_id)
        if answer is None:
            return Decision(why=f"unknown button {button_id!r}")
        if answer.leads_to_action and (
            action_taken or conversation.state is ConversationState.RESOLVED
        ):
            return Decision(message=TextMessage(body=ALREADY_TEXT), why="already answered")
        return _apply(answer, today, context)
    return _free_text(conversation, text or "", action_taken, context)


def _apply(answer: Answer, today: date, context: Context) -> Decision:
    if answer.step is Step.DATE_PICKER:
        days = deliverable_dates(today, DATE_CHOICES, context.holidays)
        message: InteractiveMessage | TextMessage = InteractiveMessage(
            body=answer.text,
            buttons=tuple(
                QuickReply(f"{DATE_BUTTON_PREFIX}{d.isoformat()}", date_title(d)) for d in days
            ),
        )
    else:
        next_day = deliverable_dates(today, 1, context.holidays)[0]
        message = TextMessage(
            body=answer.text.format(
                link=context.link,
                next_day=date_title(next_day),
                support_phone=context.support_phone,
                support_email=context.support_email,
            ),
            preview_url="{link}" in answer.text,
        )
    return Decision(
        message=message,
        action=answer.action,
        disputed_fake_attempt=answer.disputed_fake_attempt,
        state=answer.state if answer.state is not ConversationState.OPEN else None,
        why=answer.step.value,
    )


def _date_answer(
    conversation: Conversation, button_id: str, today: date, action_taken: bool, context: Context
) -> Decision:
    try:
        chosen = date.fromisoformat(button_id[len(DATE_BUTTON_PREFIX) :])
    except ValueError:
        return Decision(why=f"unreadable date button {button_id!r}")
    if action_taken or conversation.state is ConversationState.RESOLVED:
        return Decision(message=TextMessage(body=ALREADY_TEXT), why="already answered")
    if chosen <= today or chosen > today + timedelta(days=14):
        return Decision(message=TextMessage(body=EXPIRED_TEXT), why="date no longer offered")
    return Decision(
        message=TextMessage(body=RESCHEDULED_TEXT.format(date=date_title(chosen))),
        action=NdrActionKind.RESCHEDULE,
        delivery_date=chosen,
        state=ConversationState.RESOLVED,
        why="reschedule",
    )


def _free_text(
    conversation: Conversation, text: str, action_taken: bool, context: Context
) -> Decision:
    accepts_phone = conversation.state is ConversationState.AWAITING_PHONE or (
        conversation.state is ConversationState.OPEN
        and conversation.reason is FdrReason.CUSTOMER_UNREACHABLE
    )
    if accepts_phone and not action_taken:
        phone = _phone_in(text)
        if phone is not None:
            return Decision(
                message=TextMessage(body=PHONE_TEXT.format(phone=phone.masked())),
                action=NdrActionKind.UPDATE_PHONE,
                phone=phone.digits,
                state=ConversationState.RESOLVED,
                why="alternate number",
            )
    if conversation.nudged_at is not None:
        return Decision(why="free text (already nudged)")
    return Decision(message=TextMessage(body=NUDGE_TEXT), nudge=True, why="free text")


def _phone_in(text: str) -> PhoneNumber | None:
    digits = "".join(ch for ch in text if ch.isdigit() or ch == "+")
    if len(digits.lstrip("+")) < 10 or len(digits) > 16:
        return None
    try:
        return PhoneNumber.parse(digits)
    except InvalidPhoneNumber:
        return None
