"""The conversation in the shopper's language, end to end over the emulator, MariaDB, Redis and
the Meta and ESB fakes: a Hindi workspace, and a shopper who switches from English to Hindi."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from babel.dates import format_date

from infrastructure.db.uow import SqlUnitOfWork
from tests.conftest import new_id
from tests.fakes.meta import RecordedSend, send_schema_error
from tests.support.app import AppClient
from tests.support.meta_webhooks import button_tap, interactive_tap, signed, text_message
from tests.support.stack import (
    APP_SECRET,
    PUBLIC_BASE_URL,
    Stack,
    fdr_event,
    stack_fixture,
)

_DEVANAGARI = range(0x0900, 0x0980)


stack = stack_fixture()


def _hindi(text: str) -> bool:
    return any(ord(c) in _DEVANAGARI for c in text)


@dataclass
class Shopper:
    """One shopper's number of its own: the language choice is kept per number."""

    stack: Stack
    client: AppClient
    phone: str  # national, as the event carries it

    @property
    def wa_id(self) -> str:
        return "91" + self.phone

    async def failed_delivery(self, account: int, reason: str) -> RecordedSend:
        event = fdr_event(reason, account_id=account, phone=self.phone)
        link = f"{PUBLIC_BASE_URL}/track/whatsapp/{event['response_data']['id']}"
        before = len(self.stack.meta.requests)

        def sent() -> RecordedSend | None:
            return next(
                (
                    r
                    for r in self.stack.meta.requests[before:]
                    if r.body.get("type") == "template" and link in str(r.body)
                ),
                None,
            )

        async def arrived() -> bool:
            return sent() is not None

        await self.stack.publish(event)
        await self.stack.wait_for(arrived, what=f"the {reason} template")
        await self.stack.answerable(event["response_data"]["id"])
        template = sent()
        assert template is not None
        assert send_schema_error(template.body) is None
        return template

    async def post(self, body: bytes) -> RecordedSend | None:
        before = len(self.stack.meta.requests)
        response = await self.client.post(
            "/webhooks/whatsapp", content=body, headers=signed(body, APP_SECRET)
        )
        assert response.status_code == 200
        await self.client.app.state.webhook_pump.drain()
        new = self.stack.meta.requests[before:]
        assert len(new) <= 1
        if not new:
            return None
        assert send_schema_error(new[0].body) is None
        return new[0]

    async def tap(self, template: RecordedSend, button_id: str) -> RecordedSend | None:
        payloads = [
            c["parameters"][0]["payload"]
            for c in template.body["template"]["components"]
            if c["type"] == "button"
        ]
        [payload] = [p for p in payloads if p.endswith(":" + button_id)]
        return await self.post(button_tap(self.wa_id, template.message_id, payload, "label"))

    async def choose(self, message: RecordedSend | None, index: int) -> RecordedSend | None:
        assert message is not None
        button = message.body["interactive"]["action"]["buttons"][index]["reply"]
        body = interactive_tap(self.wa_id, message.message_id, button["id"], button["title"])
        return await self.post(body)

    async def write(self, text: str) -> RecordedSend | None:
        return await self.post(text_message(self.wa_id, text))


def text_of(message: RecordedSend | None) -> str:
    assert message is not None
    if message.body["type"] == "text":
        return str(message.body["text"]["body"])
    return str(message.body["interactive"]["body"]["text"])


def date_buttons(message: RecordedSend | None) -> list[dict[str, Any]]:
    assert message is not None
    return [b["reply"] for b in message.body["interactive"]["action"]["buttons"]]


def hindi_date(button_id: str) -> str:
    return format_date(date.fromisoformat(button_id.removeprefix("date-")), "d MMMM y", locale="hi")


def _shopper(stack: Stack, client: AppClient) -> Shopper:
    return Shopper(stack, client, "98" + str(new_id())[-8:].rjust(8, "1"))


async def test_a_hindi_workspace_talks_hindi_from_template_to_confirmation(
    stack: Stack, client: AppClient
) -> None:
    account = new_id()
    await stack.enable(account, language="hi")
    shopper = _shopper(stack, client)

    template = await shopper.failed_delivery(account, "customer_unavailable")
    assert template.body["template"]["name"] == "fdr_customer_unavailable"
    assert template.body["template"]["language"]["code"] == "hi"

    picker = await shopper.tap(template, "choose_date")
    assert text_of(picker) == "कृपया डिलीवरी के लिए अपनी पसंद की तारीख चुनें"
    buttons = date_buttons(picker)
    assert len(buttons) == 3
    for button in buttons:  # "27 नवंबर 2026"
        assert button["title"] == hindi_date(button["id"])
        assert _hindi(button["title"])

    confirmation = await shopper.choose(picker, 1)
    assert text_of(confirmation) == f"धन्यवाद। आपकी डिलीवरी अब {buttons[1]['title']} को होगी।"
    [action] = [a.notification for a in stack.esb.actions if a.notification.account_id == account]
    assert action.action == "reschedule"
    assert action.delivery_date == buttons[1]["id"].removeprefix("date-")

    # A message it cannot use is answered in Hindi too.
    nudge = await shopper.write("ok")
    assert nudge is None or _hindi(text_of(nudge))


async def test_a_shopper_switches_to_hindi_mid_conversation_and_keeps_it(
    stack: Stack, client: AppClient
) -> None:
    account = new_id()
    await stack.enable(account)
    shopper = _shopper(stack, client)

    template = await shopper.failed_delivery(account, "customer_unavailable")
    assert template.body["template"]["language"]["code"] == "en"
    picker = await shopper.tap(template, "choose_date")
    assert text_of(picker) == "Please help us by selecting your preferred delivery date"
    assert not any(_hindi(b["title"]) for b in date_buttons(picker))

    switched = await shopper.write("हिंदी")
    assert text_of(switched).startswith("ठीक है, अब से हम आपको हिंदी में लिखेंगे।")
    buttons = date_buttons(switched)
    assert [b["title"] for b in buttons] == [hindi_date(b["id"]) for b in buttons]

    confirmation = await shopper.choose(switched, 0)
    assert text_of(confirmation) == f"धन्यवाद। आपकी डिलीवरी अब {buttons[0]['title']} को होगी।"

    # The choice is the number's: the next failed delivery comes in Hindi, in an English
    # workspace, and typing "English" switches back. Meta answers that send late, as on a busy
    # machine: the shopper answers once it is stored (``Stack.answerable``).
    stack.meta.delay_next(1.0)
    later = await shopper.failed_delivery(account, "refused")
    assert later.body["template"]["language"]["code"] == "hi"
    back = await shopper.write("English")
    assert text_of(back).startswith("Okay, we will write to you in English from now on.")
    # The Hindi template's options, offered again, are titled as the English template's.
    assert [b["title"] for b in date_buttons(back)] == [
        "Reattempt delivery",
        "I didn't refuse",
        "Cancel order",
    ]
    async with SqlUnitOfWork(stack.db) as uow:
        assert await uow.conversations.shopper_language(shopper.wa_id) == "en"
