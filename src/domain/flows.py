"""The NDR conversation: what each answer sends next and asks of logistics.

The table is data (``ANSWERS``); ``decide`` applies it to a conversation and an answer, and
``refusal`` says what the shopper reads when the ESB refuses (docs/conversation.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

from domain.conversation import Conversation, ConversationState
from domain.language import ENGLISH_TEXTS, Texts
from domain.messages import InteractiveMessage, QuickReply, TextMessage
from domain.ndr import NdrActionKind
from domain.phone import (
    DEFAULT_REGION,
    NumberInText,
    NumberProblem,
    mobile_example,
    mobile_number_in,
)
from domain.reasons import FdrReason

#: Delivery dates are the shopper's local dates.
IST = timezone(timedelta(hours=5, minutes=30), "IST")
DATE_BUTTON_PREFIX = "date-"
DATE_CHOICES = 3
#: Meta's limits on an interactive reply-button message.
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20


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
    def eventual_action(self) -> NdrActionKind | None:
        """The action this answer asks for, now or after the date or number it asks for."""
        if self.state is ConversationState.AWAITING_DATE:
            return NdrActionKind.RESCHEDULE
        if self.state is ConversationState.AWAITING_PHONE:
            return NdrActionKind.UPDATE_PHONE
        return self.action


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
#: Said after the nudge: how to switch language (the source text is the Hindi offer English
#: readers see; Hindi readers see the way back to English). The rule: domain.language.
LANGUAGE_HINT_TEXT = '\n\nहिंदी में संदेश पाने के लिए "हिंदी" लिखें।'
SWITCHED_TEXT = "Okay, we will write to you in English from now on."
CHOOSE_TEXT = "Please choose your desired action."

#: What the shopper asked logistics for, as the refusal texts name it.
REQUESTS: dict[NdrActionKind, str] = {
    NdrActionKind.RESCHEDULE: "move your delivery to the date you chose",
    NdrActionKind.REATTEMPT: "arrange another delivery attempt",
    NdrActionKind.UPDATE_PHONE: "give your new number to the courier",
    NdrActionKind.CANCEL: "cancel your order",
    NdrActionKind.UPDATE_ADDRESS: "give your new address to the courier",
}
REFUSED_TEXT = (
    "Sorry, we could not {request}: our logistics system did not accept the request. "
    "Our support team has been told and will contact you. You can also reach them at "
    "{support_phone} or {support_email}."
)
REFUSED_BEFORE_TEXT = (
    "We could not {request} when you asked before, and our support team has been told: "
    "they will contact you. You can also reach them at {support_phone} or {support_email}."
)
OTHER_OPTIONS_TEXT = "\n\nOr choose another option below."

#: Why a number the shopper sent cannot be their alternate number.
UNUSABLE_NUMBER_TEXTS: dict[NumberProblem, str] = {
    NumberProblem.NOT_FOUND: "We could not find a phone number in your message.",
    NumberProblem.ABROAD: (
        "The number ending in {last_digits} is a +{country_code} number from abroad: "
        "the courier can only call numbers with the country code +{home_code}."
    ),
    NumberProblem.TOLL_FREE: (
        "The number ending in {last_digits} is a toll-free business line: "
        "the courier cannot reach you on it."
    ),
    NumberProblem.LANDLINE: (
        "The number ending in {last_digits} is a landline: it cannot receive WhatsApp messages."
    ),
    NumberProblem.NOT_MOBILE: "The number ending in {last_digits} is not a mobile number.",
}
ASK_MOBILE_TEXT = "Please reply with a mobile number that has WhatsApp."
#: The hint after a wrong try: the shape of a number we accept, and the way round typing it.
MOBILE_HINT_TEXT = (
    "Please reply with the mobile number alone, for example {national} or {international}, "
    "or add it here: {link}"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What the texts need besides the conversation."""

    link: str
    support_phone: str
    support_email: str
    now: datetime
    holidays: frozenset[date] = frozenset()
    options: tuple[QuickReply, ...] = ()  # the buttons of the conversation's template
    phone_region: str = DEFAULT_REGION  # alternate numbers must be mobiles of this region
    texts: Texts = ENGLISH_TEXTS  # the shopper's language (docs/languages.md)


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


def date_title(day: date, texts: Texts = ENGLISH_TEXTS) -> str:
    """``23 June 2023``: the seed's button title, written for the shopper's language."""
    return texts.date(day)


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
    refused: frozenset[NdrActionKind] = frozenset(),
) -> Decision:
    """The answer to one shopper message (a tap when ``button_id`` is set, else free text).

    ``action_taken``: an action of another answer is done or under way; ``refused``: the
    kinds of action the ESB refused in this conversation (never asked for again).
    """
    today = local_today(context.now)
    if not is_latest or conversation.state is ConversationState.EXPIRED:
        return _told(context, EXPIRED_TEXT, "expired")
    if button_id is not None:
        if button_id.startswith(DATE_BUTTON_PREFIX):
            return _date_answer(conversation, button_id, today, action_taken, refused, context)
        answer = ANSWERS.get(button_id)
        if answer is None:
            return Decision(why=f"unknown button {button_id!r}")
        kind = answer.eventual_action
        if kind is not None and (action_taken or conversation.state is ConversationState.RESOLVED):
            return _told(context, ALREADY_TEXT, "already answered")
        if kind is not None and kind in refused:
            return _refused_before(kind, refused, context)
        return _apply(answer, today, context)
    return _free_text(conversation, text or "", action_taken, refused, context)


def switched_language(
    conversation: Conversation, context: Context, refused: frozenset[NdrActionKind] = frozenset()
) -> Decision:
    """The shopper asked for another language (``context.texts`` is already it): say so, and
    ask again, in it, what the conversation is waiting for."""
    texts = context.texts
    said = texts(SWITCHED_TEXT)
    why = f"language {texts.language}"
    state = conversation.state
    if state is ConversationState.AWAITING_DATE and NdrActionKind.RESCHEDULE not in refused:
        return Decision(
            message=_date_picker(local_today(context.now), context, said + "\n\n"), why=why
        )
    if state is ConversationState.AWAITING_PHONE and NdrActionKind.UPDATE_PHONE not in refused:
        return Decision(message=TextMessage(body=f"{said} {texts(ASK_MOBILE_TEXT)}"), why=why)
    options: tuple[QuickReply, ...] = ()
    if state in (ConversationState.OPEN, ConversationState.NEEDS_PERSON):
        options = remaining_options(context.options, refused)
    if options:
        body = f"{said}\n\n{texts(CHOOSE_TEXT)}"
        return Decision(message=InteractiveMessage(body=body, buttons=options), why=why)
    return Decision(message=TextMessage(body=said), why=why)


def _told(context: Context, text: str, why: str) -> Decision:
    return Decision(message=TextMessage(body=context.texts(text)), why=why)


def refusal(
    kind: NdrActionKind,
    *,
    refused: frozenset[NdrActionKind],
    context: Context,
    before: bool = False,
) -> InteractiveMessage | TextMessage:
    """What the shopper reads when the ESB refused ``kind``: the truth, who will get in touch,
    and the template's options that may still be acted on (``refused`` holds ``kind``)."""
    texts = context.texts
    body = texts(REFUSED_BEFORE_TEXT if before else REFUSED_TEXT).format(
        request=texts(REQUESTS[kind]),
        support_phone=context.support_phone,
        support_email=context.support_email,
    )
    options = remaining_options(context.options, refused | {kind})
    if not options:
        return TextMessage(body=body)
    return InteractiveMessage(body=body + texts(OTHER_OPTIONS_TEXT), buttons=options)


def remaining_options(
    options: tuple[QuickReply, ...], refused: frozenset[NdrActionKind]
) -> tuple[QuickReply, ...]:
    """The buttons still worth offering: known answers whose action was not refused."""
    kept = [
        QuickReply(b.id, b.title[:MAX_BUTTON_TITLE])
        for b in options
        if b.id in ANSWERS and ANSWERS[b.id].eventual_action not in refused
    ]
    return tuple(kept[:MAX_BUTTONS])


def _refused_before(
    kind: NdrActionKind, refused: frozenset[NdrActionKind], context: Context
) -> Decision:
    message = refusal(kind, refused=refused, context=context, before=True)
    return Decision(message=message, why=f"{kind.value} refused before")


def _apply(answer: Answer, today: date, context: Context) -> Decision:
    texts = context.texts
    if answer.step is Step.DATE_PICKER:
        message: InteractiveMessage | TextMessage = _date_picker(today, context)
    else:
        next_day = deliverable_dates(today, 1, context.holidays)[0]
        message = TextMessage(
            body=texts(answer.text).format(
                link=context.link,
                next_day=date_title(next_day, texts),
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


def _date_picker(today: date, context: Context, lead: str = "") -> InteractiveMessage:
    days = deliverable_dates(today, DATE_CHOICES, context.holidays)
    return InteractiveMessage(
        body=lead + context.texts(ANSWERS["choose_date"].text),
        buttons=tuple(
            QuickReply(f"{DATE_BUTTON_PREFIX}{d.isoformat()}", date_title(d, context.texts))
            for d in days
        ),
    )


def _date_answer(
    conversation: Conversation,
    button_id: str,
    today: date,
    action_taken: bool,
    refused: frozenset[NdrActionKind],
    context: Context,
) -> Decision:
    try:
        chosen = date.fromisoformat(button_id[len(DATE_BUTTON_PREFIX) :])
    except ValueError:
        return Decision(why=f"unreadable date button {button_id!r}")
    if action_taken or conversation.state is ConversationState.RESOLVED:
        return _told(context, ALREADY_TEXT, "already answered")
    if NdrActionKind.RESCHEDULE in refused:
        return _refused_before(NdrActionKind.RESCHEDULE, refused, context)
    if chosen <= today or chosen > today + timedelta(days=14):
        return _told(context, EXPIRED_TEXT, "date no longer offered")
    rescheduled = context.texts(RESCHEDULED_TEXT).format(date=date_title(chosen, context.texts))
    return Decision(
        message=TextMessage(body=rescheduled),
        action=NdrActionKind.RESCHEDULE,
        delivery_date=chosen,
        state=ConversationState.RESOLVED,
        why="reschedule",
    )


def _free_text(
    conversation: Conversation,
    text: str,
    action_taken: bool,
    refused: frozenset[NdrActionKind],
    context: Context,
) -> Decision:
    if not action_taken and _reads_numbers(conversation, context):
        found = mobile_number_in(text, context.phone_region)
        if NdrActionKind.UPDATE_PHONE in refused:
            if found.problem is not NumberProblem.NOT_FOUND:
                return _refused_before(NdrActionKind.UPDATE_PHONE, refused, context)
        elif found.number is not None:
            return Decision(
                message=TextMessage(
                    body=context.texts(PHONE_TEXT).format(phone=found.number.masked())
                ),
                action=NdrActionKind.UPDATE_PHONE,
                phone=found.number.digits,
                state=ConversationState.RESOLVED,
                why="alternate number",
            )
        elif (
            found.problem is not NumberProblem.NOT_FOUND
            or conversation.state is ConversationState.AWAITING_PHONE
        ):
            return _unusable_number(conversation, found, context)
    if conversation.nudged_at is not None:
        return Decision(why="free text (already nudged)")
    nudge = context.texts(NUDGE_TEXT) + context.texts(LANGUAGE_HINT_TEXT)
    return Decision(message=TextMessage(body=nudge), nudge=True, why="free text")


def _reads_numbers(conversation: Conversation, context: Context) -> bool:
    """Asked for a number, or offered to give one: free text is read for a phone number."""
    if conversation.state is ConversationState.AWAITING_PHONE:
        return True
    offered = conversation.reason is FdrReason.CUSTOMER_UNREACHABLE or any(
        b.id == "alt_number" for b in context.options
    )
    return offered and conversation.state in (
        ConversationState.OPEN,
        ConversationState.NEEDS_PERSON,
    )


def _unusable_number(conversation: Conversation, found: NumberInText, context: Context) -> Decision:
    """Why the number will not do; from the second wrong try on, what one looks like.

    Every wrong try is answered (asked for a number, the shopper is never left in silence);
    the conversation's nudge marks that one was made already.
    """
    assert found.problem is not None
    example = mobile_example(context.phone_region)
    texts = context.texts
    why = texts(UNUSABLE_NUMBER_TEXTS[found.problem]).format(
        last_digits=found.last_digits,
        country_code=found.country_code,
        home_code=example.country_code,
    )
    if conversation.nudged_at is None:
        ask, preview = texts(ASK_MOBILE_TEXT), False
    else:
        ask = texts(MOBILE_HINT_TEXT).format(
            national=example.national, international=example.international, link=context.link
        )
        preview = True
    return Decision(
        message=TextMessage(body=f"{why} {ask}", preview_url=preview),
        nudge=True,
        why=f"alternate number not usable: {found.problem.value}",
    )
