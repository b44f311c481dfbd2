"""The tracking page's forms: what reaches the ESB, once, and what is refused before anything
is asked (each page on a SQLite database of its own, the ESB the local stand-in)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from application.services import NotificationOptions
from application.use_cases.ask_from_tracking_page import AskFromTrackingPage
from domain.activity import Outcome
from domain.conversation import Conversation, ConversationState
from domain.errors import InvalidFields, NotFound, UpstreamRejected, UpstreamUnavailable
from domain.ndr import NdrActionKind, NdrActionState
from domain.reasons import FdrReason
from infrastructure.local.activity import RecordingActivityPublisher
from infrastructure.local.collaborators import InMemoryNdrActions
from tests.conftest import UowFactory
from tests.support.doubles import FixedClock
from tests.support.factories import T0

REF = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
ADDRESS = "Flat 4B, Lake View Apartments, Sector 21, Gurugram 122016"


class Page:
    def __init__(self, new_uow: UowFactory) -> None:
        self.new_uow = new_uow
        self.esb = InMemoryNdrActions()
        self.activity = RecordingActivityPublisher()
        self.ask = AskFromTrackingPage(
            self.new_uow(),
            self.esb,
            self.activity,
            FixedClock(),
            NotificationOptions(
                default_account_id=5, tracking_base_url="", support_phone="", support_email=""
            ),
        )

    async def conversation(self, shipment_id: int = 17148402) -> Conversation:
        async with self.new_uow() as uow:
            stored = await uow.conversations.add(
                Conversation(
                    account_id=379,
                    shipment_id=shipment_id,
                    status_log_id=1,
                    reason=FdrReason.ADDRESS_ISSUE,
                    customer_phone="917891971009",
                    sender_connection_id=0,
                    state=ConversationState.OPEN,
                    reply_ref=REF,
                    created_at=T0,
                    updated_at=T0,
                )
            )
            await uow.commit()
        assert stored is not None
        return stored

    async def state(self, conversation: Conversation) -> ConversationState:
        async with self.new_uow() as uow:
            found = await uow.conversations.get(conversation.id or 0)
        assert found is not None
        return found.state


async def test_an_address_is_asked_once_and_resolves_the_conversation(
    new_database: Callable[[], UowFactory],
) -> None:
    page = Page(new_database())
    conversation = await page.conversation()
    first = await page.ask(17148402, REF, NdrActionKind.UPDATE_ADDRESS, f"  {ADDRESS}\n")
    again = await page.ask(17148402, REF, NdrActionKind.UPDATE_ADDRESS, ADDRESS)
    assert (first.now, again.now) == (True, False)
    assert first.action.state is NdrActionState.DONE
    assert [(a.kind, a.address) for a in page.esb.performed] == [
        (NdrActionKind.UPDATE_ADDRESS, ADDRESS)
    ]
    assert await page.state(conversation) is ConversationState.RESOLVED
    assert [e.outcome for e in page.activity.events] == [Outcome.ACTION_TAKEN]
    # One thing per conversation: a number after the address asks nothing more.
    other = await page.ask(17148402, REF, NdrActionKind.UPDATE_PHONE, "9876543210")
    assert (other.now, other.action.kind) == (False, NdrActionKind.UPDATE_ADDRESS)
    assert len(page.esb.performed) == 1


async def test_a_number_is_read_like_one_typed_on_whatsapp(
    new_database: Callable[[], UowFactory],
) -> None:
    page = Page(new_database())
    await page.conversation()
    asked = await page.ask(17148402, REF, NdrActionKind.UPDATE_PHONE, "call +91 98765-43210")
    assert asked.action.phone == "919876543210"
    fresh = Page(new_database())
    await fresh.conversation()
    with pytest.raises(InvalidFields) as landline:
        await fresh.ask(17148402, REF, NdrActionKind.UPDATE_PHONE, "011 2345 6789")
    assert "phone" in landline.value.errors


async def test_what_cannot_be_used_asks_nothing(new_database: Callable[[], UowFactory]) -> None:
    page = Page(new_database())
    await page.conversation()
    with pytest.raises(NotFound):
        await page.ask(17148402, "f" * 32, NdrActionKind.UPDATE_ADDRESS, ADDRESS)
    with pytest.raises(NotFound):
        await page.ask(1, REF, NdrActionKind.UPDATE_ADDRESS, ADDRESS)
    with pytest.raises(InvalidFields) as short:
        await page.ask(17148402, REF, NdrActionKind.UPDATE_ADDRESS, "here")
    assert "address" in short.value.errors
    with pytest.raises(InvalidFields):
        await page.ask(17148402, REF, NdrActionKind.UPDATE_PHONE, "no number at all")
    assert page.esb.calls == 0


async def test_an_outage_is_asked_again_with_the_same_key_and_a_refusal_needs_a_person(
    new_database: Callable[[], UowFactory],
) -> None:
    page = Page(new_database())
    conversation = await page.conversation()
    page.esb.fail_next()
    with pytest.raises(UpstreamUnavailable):
        await page.ask(17148402, REF, NdrActionKind.UPDATE_ADDRESS, ADDRESS)
    asked = await page.ask(17148402, REF, NdrActionKind.UPDATE_ADDRESS, ADDRESS)
    assert (asked.now, asked.action.attempts) == (True, 2)
    assert len(page.esb.performed) == 1

    refused = Page(new_database())
    other = await refused.conversation()
    refused.esb.fail_next(error=UpstreamRejected("ESB refused: shipment already returned"))
    answer = await refused.ask(17148402, REF, NdrActionKind.UPDATE_ADDRESS, ADDRESS)
    assert answer.action.state is NdrActionState.FAILED
    assert await refused.state(other) is ConversationState.NEEDS_PERSON
    assert [e.outcome for e in refused.activity.events] == [
        Outcome.ACTION_FAILED,
        Outcome.NEEDS_PERSON,
    ]
    assert conversation.id is not None


async def test_the_address_is_kept_and_a_form_sent_again_carries_the_first(
    new_database: Callable[[], UowFactory],
) -> None:
    page = Page(new_database())
    conversation = await page.conversation()
    assert conversation.id is not None
    page.esb.fail_next()
    with pytest.raises(UpstreamUnavailable):
        await page.ask(17148402, REF, NdrActionKind.UPDATE_ADDRESS, ADDRESS)
    async with page.new_uow() as uow:
        [recorded] = await uow.ndr_actions.for_conversation(conversation.id)
    assert (recorded.address, recorded.state, recorded.attempts) == (
        ADDRESS,
        NdrActionState.PENDING,
        1,
    )
    # Sent again with other words: one key, one request, the address recorded first.
    asked = await page.ask(17148402, REF, NdrActionKind.UPDATE_ADDRESS, "House 9, MG Road, Pune")
    assert (asked.now, asked.action.address) == (True, ADDRESS)
    assert [a.address for a in page.esb.performed] == [ADDRESS]
    assert ADDRESS not in repr(asked.action)  # never in a log line
