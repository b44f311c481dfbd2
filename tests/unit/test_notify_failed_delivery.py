"""The FDR use case: one message per attempt, a recorded outcome always (on SQLite, a copy per
test, with a scripted WhatsApp)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from application.ports.cache import SettingsCache
from application.sending import SendStep
from application.services import NotificationOptions, ReasonBook, SenderResolver, SettingsReader
from application.use_cases.held_sends import HeldSends
from application.use_cases.notify.batch_plan import PlanPhase
from application.use_cases.notify.batch_record import RecordPhase
from application.use_cases.notify_failed_delivery import (
    Disposition,
    NotifyFailedDelivery,
    event_key,
)
from domain.activity import Outcome
from domain.conversation import ConversationState
from domain.errors import PermanentSendError, RetryableSendError, SendOutcomeUnknown
from domain.failed_delivery import FailedDelivery
from domain.messages import DeliveryReport, MessageKind, OutgoingMessage, TemplateMessage
from domain.reasons import FdrReason
from domain.settings import ChannelSetting, SenderConnection
from domain.status import MessageStatus
from infrastructure.cache.memory import InProcessSettingsCache
from infrastructure.events.held_event import MsgspecFailedDeliveryCodec
from infrastructure.events.shipment_event import decode_shipment_event
from infrastructure.local.activity import RecordingActivityPublisher
from tests.conftest import FIXTURES, UowFactory, new_id
from tests.support.doubles import (
    DEFAULT_SENDER,
    BrokenCache,
    CountingRefs,
    FixedClock,
    NoLimit,
    ScriptedWhatsApp,
    StaticDirectory,
)
from tests.support.factories import T0

SEED_EVENT = (FIXTURES / "fdr-event-otp-cancellation.json").read_bytes()


def seed_fdr(**changes: object) -> FailedDelivery:
    """The seed's event, failed an hour before the test clock's now (not stale)."""
    decoded = decode_shipment_event(SEED_EVENT)
    assert isinstance(decoded, FailedDelivery)
    changes.setdefault("failed_at", T0 - timedelta(hours=1))
    return dataclasses.replace(decoded, **changes)  # type: ignore[arg-type]


@dataclass
class World:
    uow: UowFactory
    whatsapp: ScriptedWhatsApp
    activity: RecordingActivityPublisher
    clock: FixedClock
    directory: StaticDirectory
    notify: NotifyFailedDelivery

    async def enable(self, account_id: int, **changes: object) -> None:
        setting = ChannelSetting(account_id=account_id, whatsapp_enabled=True)
        async with self.uow() as uow:
            await uow.settings.save(dataclasses.replace(setting, **changes))  # type: ignore[arg-type]
            await uow.commit()

    async def thread(self, conversation_id: int) -> list[OutgoingMessage]:
        async with self.uow() as uow:
            return await uow.messages.for_conversation(conversation_id)


def make_world(new_uow: UowFactory, cache: SettingsCache | None = None) -> World:
    whatsapp = ScriptedWhatsApp()
    activity = RecordingActivityPublisher()
    clock = FixedClock()
    directory = StaticDirectory()
    options = NotificationOptions(
        default_account_id=5,
        tracking_base_url="https://wa.example.com",
        support_phone="+91-9876543210",
        support_email="eshopbox@support.com",
    )
    uow = new_uow()
    notify = NotifyFailedDelivery(
        uow=uow,
        settings=SettingsReader(cache or InProcessSettingsCache(ttl=0.0)),
        rules=ReasonBook(),
        senders=SenderResolver(directory, DEFAULT_SENDER),
        step=SendStep(uow, whatsapp, NoLimit(), clock),
        activity=activity,
        clock=clock,
        refs=CountingRefs(),
        options=options,
        held=HeldSends(new_uow(), clock, activity, options, MsgspecFailedDeliveryCodec()),
    )
    return World(new_uow, whatsapp, activity, clock, directory, notify)


@pytest.fixture
def world(new_uow: UowFactory) -> World:
    return make_world(new_uow)


async def test_the_seed_event_sends_one_template_to_the_shopper(world: World) -> None:
    fdr = seed_fdr()
    await world.enable(fdr.account_id)

    result = await world.notify(fdr)

    assert (result.disposition, result.outcome) == (Disposition.ACK, Outcome.SENT)
    [sent] = world.whatsapp.sent
    assert sent.to == "917891971009"
    assert sent.sender == DEFAULT_SENDER
    assert isinstance(sent.content, TemplateMessage)
    conversation_id = result.conversation_id
    assert sent.content.name == "fdr_otp_cancellation"
    assert sent.content.body_parameters == (
        "Aman",
        "Scitron Shopify",
        "4980116095129",
        "1",
        "1 Advance Whey Protein with 20 Vitamins & Minerals",
        sent.content.body_parameters[5],
    )
    # Each payload names the conversation with its random reference (a tap is checked
    # against it), not with the sequential id alone; the tracking link carries it too.
    refs = {p.split(":")[2] for p in sent.content.button_payloads}
    [ref] = refs
    assert len(ref) >= 8
    assert (
        sent.content.body_parameters[5] == f"https://wa.example.com/track/whatsapp/17148471?r={ref}"
    )
    assert sent.content.button_payloads == (
        f"fdr:{conversation_id}:{ref}:not_cancelled",
        f"fdr:{conversation_id}:{ref}:confirm_cancel",
    )
    [message] = await world.thread(conversation_id or 0)
    assert message.kind is MessageKind.TEMPLATE
    assert message.root_message_id is None
    assert message.message_id == result.message_id
    assert message.status is MessageStatus.ACCEPTED
    assert message.client_ref == sent.client_ref
    assert json.loads(message.payload)["name"] == "fdr_otp_cancellation"
    assert [e.outcome for e in world.activity.events] == [Outcome.SENT]
    assert world.activity.events[0].reason == "otp_cancellation"


async def test_whatsapp_is_off_by_default(world: World) -> None:
    result = await world.notify(seed_fdr())
    assert result.outcome is Outcome.SKIPPED
    assert result.disposition is Disposition.ACK
    assert "whatsapp_disabled" in result.detail
    assert world.whatsapp.calls == 0
    assert [e.outcome for e in world.activity.events] == [Outcome.SKIPPED]
    assert world.activity.events[0].reason == "otp_cancellation"  # still counted by reason


async def test_an_unknown_reason_is_skipped_with_the_raw_text(world: World) -> None:
    fdr = seed_fdr(ndr_code=77, ndr_description="", remarks="misrouted to hub", latest_remark="")
    await world.enable(fdr.account_id)
    result = await world.notify(fdr)
    assert result.outcome is Outcome.SKIPPED
    assert "unknown_reason" in result.detail
    assert "misrouted to hub" in result.detail
    assert world.whatsapp.calls == 0


async def test_an_unreadable_phone_is_skipped_not_raised(world: World) -> None:
    fdr = seed_fdr(customer_phone="12345")
    await world.enable(fdr.account_id)
    result = await world.notify(fdr)
    assert result.outcome is Outcome.SKIPPED
    assert "bad_phone" in result.detail
    assert "12345" not in result.detail
    assert world.whatsapp.calls == 0


async def test_the_same_event_twice_sends_once(world: World) -> None:
    fdr = seed_fdr()
    await world.enable(fdr.account_id)
    first = await world.notify(fdr)
    second = await world.notify(fdr)
    assert first.outcome is Outcome.SENT
    assert second.duplicate
    assert second.disposition is Disposition.ACK
    assert len(world.whatsapp.sent) == 1


async def test_a_skipped_event_delivered_again_is_a_no_op(world: World) -> None:
    fdr = seed_fdr()
    await world.notify(fdr)
    again = await world.notify(fdr)
    assert again.duplicate
    assert len(world.activity.events) == 1


async def test_throttled_then_redelivered_sends_once(world: World) -> None:
    fdr = seed_fdr()
    await world.enable(fdr.account_id)
    world.whatsapp.fail_next(RetryableSendError(130429, "Rate limit hit"))

    first = await world.notify(fdr)
    assert first.disposition is Disposition.RETRY
    assert first.retry_after is not None
    [pending] = await world.thread(first.conversation_id or 0)
    assert pending.status is MessageStatus.RETRYING
    assert pending.error_code == 130429

    second = await world.notify(fdr)
    assert (second.disposition, second.outcome) == (Disposition.ACK, Outcome.SENT)
    assert len(world.whatsapp.sent) == 1
    [sent] = await world.thread(first.conversation_id or 0)
    assert sent.status is MessageStatus.ACCEPTED
    assert sent.client_ref == pending.client_ref


async def test_a_permanent_refusal_is_recorded_and_never_retried(world: World) -> None:
    fdr = seed_fdr()
    await world.enable(fdr.account_id)
    world.whatsapp.fail_next(PermanentSendError(131026, "Message undeliverable"))

    result = await world.notify(fdr)
    again = await world.notify(fdr)

    assert (result.disposition, result.outcome) == (Disposition.ACK, Outcome.FAILED)
    assert again.duplicate
    assert world.whatsapp.calls == 1
    [message] = await world.thread(result.conversation_id or 0)
    assert (message.status, message.error_code) == (MessageStatus.FAILED, 131026)
    assert message.error_title == "Message undeliverable"
    event, fallback = world.activity.events  # the shopper has no WhatsApp: try SMS
    assert (event.outcome, event.error_code) == (Outcome.FAILED, 131026)
    assert (fallback.outcome, fallback.detail) == (Outcome.WHATSAPP_UNREACHABLE, "undeliverable")


async def test_a_timeout_is_unknown_and_never_sent_again(world: World) -> None:
    fdr = seed_fdr()
    await world.enable(fdr.account_id)
    world.whatsapp.fail_next(SendOutcomeUnknown(None, "read timeout"))

    result = await world.notify(fdr)
    again = await world.notify(fdr)

    assert (result.disposition, result.outcome) == (Disposition.ACK, Outcome.UNKNOWN)
    assert again.duplicate
    assert world.whatsapp.calls == 1
    [message] = await world.thread(result.conversation_id or 0)
    assert message.status is MessageStatus.UNKNOWN


async def test_an_event_seen_mid_send_waits_then_gives_up_without_sending(world: World) -> None:
    fdr = seed_fdr()
    await world.enable(fdr.account_id)
    world.whatsapp.fail_next(RetryableSendError(2, "down"))
    first = await world.notify(fdr)
    # Make it look like a worker died after recording the send but before finishing it.
    async with world.uow() as uow:
        [message] = await uow.messages.for_conversation(first.conversation_id or 0)
        message.status = MessageStatus.PENDING
        message.updated_at = world.clock.now()
        await uow.messages.update(message)
        await uow.commit()

    world.clock.advance(10)
    waiting = await world.notify(fdr)
    assert waiting.disposition is Disposition.RETRY
    assert waiting.retry_after is not None
    assert waiting.retry_after > 100

    world.clock.advance(200)
    given_up = await world.notify(fdr)
    assert (given_up.disposition, given_up.outcome) == (Disposition.ACK, Outcome.UNKNOWN)
    assert world.whatsapp.sent == []


async def test_the_workspace_template_and_sender_are_used(world: World) -> None:
    fdr = seed_fdr()
    own_sender = SenderConnection(
        connection_id=482,
        account_id=fdr.account_id,
        phone_number_id="222",
        waba_id="333",
        access_token="t",
        app_secret="s",
    )
    world.directory.senders[482] = own_sender
    async with world.uow() as uow:
        default = await uow.templates.default_for(5, FdrReason.OTP_CANCELLATION)
        assert default is not None
        custom = await uow.templates.add(
            dataclasses.replace(
                default,
                id=None,
                account_id=fdr.account_id,
                template_name="brand_otp",
                language="hi",
            )
        )
        await uow.commit()
    await world.enable(
        fdr.account_id,
        sender_connection_id=482,
        templates={FdrReason.OTP_CANCELLATION: custom.id},
    )

    result = await world.notify(fdr)

    assert result.outcome is Outcome.SENT
    [sent] = world.whatsapp.sent
    assert sent.sender == own_sender
    assert isinstance(sent.content, TemplateMessage)
    assert (sent.content.name, sent.content.language) == ("brand_otp", "hi")


async def _own_template(world: World, account_id: int, reason: FdrReason) -> int:
    async with world.uow() as uow:
        default = await uow.templates.default_for(5, reason)
        assert default is not None
        custom = await uow.templates.add(
            dataclasses.replace(default, id=None, account_id=account_id, template_name="brand")
        )
        await uow.commit()
    assert custom.id is not None
    return custom.id


async def test_a_missing_own_connection_is_a_recorded_skip(world: World) -> None:
    fdr = seed_fdr()
    template_id = await _own_template(world, fdr.account_id, FdrReason.OTP_CANCELLATION)
    await world.enable(
        fdr.account_id,
        sender_connection_id=999,
        templates={FdrReason.OTP_CANCELLATION: template_id},
    )
    result = await world.notify(fdr)
    assert result.outcome is Outcome.SKIPPED
    assert "no_sender" in result.detail


async def test_from_its_own_account_a_reason_without_its_template_is_not_sent(
    world: World,
) -> None:
    fdr = seed_fdr()  # otp_cancellation
    world.directory.senders[482] = dataclasses.replace(DEFAULT_SENDER, connection_id=482)
    template_id = await _own_template(world, fdr.account_id, FdrReason.REFUSED)
    await world.enable(
        fdr.account_id, sender_connection_id=482, templates={FdrReason.REFUSED: template_id}
    )

    result = await world.notify(fdr)

    # Eshopbox's default template does not exist on the workspace's own business account:
    # Meta would refuse it (132001), so nothing is sent and the stats say why.
    assert result.outcome is Outcome.SKIPPED
    assert result.detail.startswith("no_template: no template of the workspace")
    assert world.whatsapp.sent == []


async def test_settings_are_read_from_the_database_when_the_cache_is_down(
    new_uow: UowFactory,
) -> None:
    world = make_world(new_uow, cache=BrokenCache())
    fdr = seed_fdr()
    await world.enable(fdr.account_id)
    result = await world.notify(fdr)
    assert result.outcome is Outcome.SENT


async def test_a_newer_attempt_starts_a_new_conversation(world: World) -> None:
    fdr = seed_fdr()
    await world.enable(fdr.account_id)
    first = await world.notify(fdr)
    second = await world.notify(dataclasses.replace(fdr, status_log_id=new_id()))
    assert first.conversation_id != second.conversation_id
    assert len(world.whatsapp.sent) == 2
    async with world.uow() as uow:
        latest = await uow.conversations.latest_for_shipment(fdr.shipment_id)
    assert latest is not None
    assert latest.id == second.conversation_id
    assert latest.state is ConversationState.OPEN


async def test_ticks_that_arrive_before_the_send_answer_are_not_lost(world: World) -> None:
    fdr = seed_fdr()
    await world.enable(fdr.account_id)
    async with world.uow() as uow:
        # Meta's webhook raced ahead of its own 200: the status is stored with no message.
        await uow.delivery_reports.add_many(
            [
                DeliveryReport(
                    wa_outgoing_message_id=None,
                    message_id="wamid.TEST000001",
                    status=MessageStatus.DELIVERED,
                    external_timestamp=world.clock.now(),
                    created_at=world.clock.now(),
                )
            ]
        )
        await uow.commit()
    result = await world.notify(fdr)
    [message] = await world.thread(result.conversation_id or 0)
    assert message.message_id == "wamid.TEST000001"
    assert message.status is MessageStatus.DELIVERED
    async with world.uow() as uow:
        [report] = await uow.delivery_reports.for_message("wamid.TEST000001")
    assert report.wa_outgoing_message_id == message.id


async def test_a_failure_that_arrives_before_the_send_answer_fails_the_conversation(
    world: World,
) -> None:
    fdr = seed_fdr()
    await world.enable(fdr.account_id)
    async with world.uow() as uow:
        await uow.delivery_reports.add_many(
            [
                DeliveryReport(
                    wa_outgoing_message_id=None,
                    message_id="wamid.TEST000001",
                    status=MessageStatus.FAILED,
                    error_code=131026,
                    error_title="Message undeliverable",
                    external_timestamp=world.clock.now(),
                    created_at=world.clock.now(),
                )
            ]
        )
        await uow.commit()

    result = await world.notify(fdr)

    [message] = await world.thread(result.conversation_id or 0)
    assert (message.status, message.error_code) == (MessageStatus.FAILED, 131026)
    assert message.error_title == "Message undeliverable"
    async with world.uow() as uow:
        conversation = await uow.conversations.get(result.conversation_id or 0)
    assert conversation is not None
    assert conversation.state is ConversationState.FAILED


async def test_a_template_verified_on_another_business_account_is_not_sent(
    world: World,
) -> None:
    fdr = seed_fdr()
    own = dataclasses.replace(DEFAULT_SENDER, connection_id=482, waba_id="waba-now")
    world.directory.senders[482] = own
    template_id = await _own_template(world, fdr.account_id, FdrReason.OTP_CANCELLATION)
    async with world.uow() as uow:
        template = await uow.templates.get(template_id)
        assert template is not None
        await uow.templates.update(
            dataclasses.replace(template, verified_at=T0, verified_waba_id="waba-before")
        )
        await uow.commit()
    await world.enable(
        fdr.account_id,
        sender_connection_id=482,
        templates={FdrReason.OTP_CANCELLATION: template_id},
    )

    result = await world.notify(fdr)

    assert result.outcome is Outcome.SKIPPED
    assert "verified on another WhatsApp Business Account" in result.detail
    assert world.whatsapp.sent == []


async def test_a_batch_records_each_skip_with_its_reason_as_one_event_does(world: World) -> None:
    sent = seed_fdr()
    off = seed_fdr(account_id=sent.account_id + 1, shipment_id=sent.shipment_id + 1)
    bad_phone = seed_fdr(shipment_id=sent.shipment_id + 2, customer_phone="12345")
    await world.enable(sent.account_id)

    results = await world.notify.many([sent, off, bad_phone])

    assert [r.outcome for r in results if not isinstance(r, Exception)] == [
        Outcome.SENT,
        Outcome.SKIPPED,
        Outcome.SKIPPED,
    ]
    async with world.uow() as uow:
        records = [await uow.fdr_events.get(event_key(fdr)) for fdr in (sent, off, bad_phone)]
    assert [r.skip_reason if r else "missing" for r in records] == [
        None,
        "whatsapp_disabled",
        "bad_phone",
    ]
    assert len(world.whatsapp.sent) == 1


async def test_a_batch_whose_records_fail_sends_each_event_once_on_its_own(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = seed_fdr()
    second = seed_fdr(shipment_id=first.shipment_id + 1)
    await world.enable(first.account_id)

    tried: list[object] = []

    async def refused(self: RecordPhase, uow: object, start: object) -> None:
        tried.append(start)
        raise RuntimeError("Deadlock found when trying to get lock")

    with monkeypatch.context() as patched:  # the batch's one transaction fails
        patched.setattr(RecordPhase, "_add", refused)
        results = await world.notify.many([first, second])

    assert tried  # the batch tried its one transaction
    assert [r.outcome for r in results if not isinstance(r, Exception)] == [
        Outcome.SENT,
        Outcome.SENT,
    ]
    assert len(world.whatsapp.sent) == 2  # each event went the one-event way, once
    again = await world.notify.many([first, second])
    assert all(not isinstance(r, Exception) and r.duplicate for r in again)
    assert len(world.whatsapp.sent) == 2


async def test_an_attempt_another_worker_records_meanwhile_leaves_the_batch_alone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = seed_fdr()
    raced = seed_fdr(shipment_id=first.shipment_id + 1)
    last = seed_fdr(shipment_id=first.shipment_id + 2)
    await world.enable(first.account_id)
    record = RecordPhase.record

    async def raced_first(self: RecordPhase, *args: Any) -> bool:
        await world.notify(raced)  # another worker, between the batch's plan and its records
        return await record(self, *args)

    with monkeypatch.context() as patched:
        patched.setattr(RecordPhase, "record", raced_first)
        results = await world.notify.many([first, raced, last])

    # The refused row sends only its own event the one-event way; the others go together.
    assert [r.outcome for r in results if not isinstance(r, Exception)] == [
        Outcome.SENT,
        Outcome.SENT,
        Outcome.SENT,
    ]
    assert [not isinstance(r, Exception) and r.duplicate for r in results] == [
        False,
        True,
        False,
    ]
    assert len(world.whatsapp.sent) == 3  # each attempt once
    async with world.uow() as uow:
        records = [await uow.fdr_events.get(event_key(fdr)) for fdr in (first, raced, last)]
    assert [r.outcome if r else None for r in records] == [Outcome.SENT] * 3


async def test_a_batch_of_shipments_messaged_before_plans_each_as_alone(world: World) -> None:
    newer = seed_fdr()
    older = seed_fdr(shipment_id=newer.shipment_id + 1, status_log_id=newer.status_log_id + 10)
    await world.enable(newer.account_id)
    await world.notify(newer)
    await world.notify(older)
    fresh = seed_fdr(shipment_id=newer.shipment_id + 2)
    batch = [
        dataclasses.replace(newer, status_log_id=newer.status_log_id + 1),  # a newer attempt
        dataclasses.replace(older, status_log_id=older.status_log_id - 1),  # arrives late
        newer,  # seen before: a duplicate
        fresh,
    ]

    results = await world.notify.many(batch)

    assert [(r.outcome, r.duplicate) for r in results if not isinstance(r, Exception)] == [
        (Outcome.SENT, False),
        (Outcome.SKIPPED, False),
        (Outcome.SENT, True),
        (Outcome.SENT, False),
    ]
    assert len(world.whatsapp.sent) == 4  # the two before, the newer attempt, the fresh one
    async with world.uow() as uow:
        late = await uow.fdr_events.get(event_key(batch[1]))
        latest = await uow.conversations.latest_for_shipment(newer.shipment_id)
    assert late is not None
    assert late.skip_reason == "superseded"
    assert latest is not None
    assert latest.status_log_id == batch[0].status_log_id


async def test_a_batch_tells_which_of_its_shipments_were_never_messaged(world: World) -> None:
    # The intake records a failed attempt as the outcome of the attempt notified before it;
    # the batch's plan reads which shipments had none, so the intake need not read it again.
    before = seed_fdr()
    await world.enable(before.account_id)
    await world.notify(before)
    fresh = seed_fdr(shipment_id=before.shipment_id + 1)
    again = dataclasses.replace(before, status_log_id=before.status_log_id + 1)

    batch = await world.notify.batch([again, fresh])

    assert batch.unmessaged == {fresh.shipment_id}
    assert [r.outcome for r in batch.results if not isinstance(r, Exception)] == [
        Outcome.SENT,
        Outcome.SENT,
    ]


async def test_a_batch_whose_plan_failed_knows_no_shipment_never_messaged(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    fdr = seed_fdr()
    await world.enable(fdr.account_id)

    async def down(*_: object) -> None:
        raise RuntimeError("database down")

    with monkeypatch.context() as patched:
        patched.setattr(PlanPhase, "read", down)
        batch = await world.notify.batch([fdr])

    # Each event then went the one-event way (and sent), and reads its own history.
    assert batch.unmessaged == set()
    assert [r.outcome for r in batch.results if not isinstance(r, Exception)] == [Outcome.SENT]


async def test_a_batch_planned_ahead_sends_once_what_another_batch_sent_meanwhile(
    world: World,
) -> None:
    # The worker plans the next pull's batch while it waits for room (a read, nothing
    # written); the same event, delivered twice, may be sent by a batch running meanwhile.
    fdr = seed_fdr()
    await world.enable(fdr.account_id)
    planned = await world.notify.plan([fdr])
    assert planned is not None

    first = await world.notify.batch([fdr])
    again = await world.notify.batch([fdr], planned)

    [sent], [duplicate] = first.results, again.results
    assert not isinstance(sent, Exception)
    assert not isinstance(duplicate, Exception)
    assert (sent.outcome, sent.duplicate) == (Outcome.SENT, False)
    assert (duplicate.outcome, duplicate.duplicate) == (Outcome.SENT, True)
    assert len(world.whatsapp.sent) == 1
