"""A workspace's choices in the portal decide what the worker does with the next failed delivery:
over the Pub/Sub emulator, MariaDB, Redis, the fake Graph API and the fake integration engine."""

from __future__ import annotations

from typing import Any

from domain.settings import SenderConnection
from tests.conftest import new_id
from tests.fakes.meta import RecordedSend
from tests.support.app import AppClient
from tests.support.portal import SECRET, api, bearer
from tests.support.stack import PHONE_NUMBER_ID, Stack, fdr_event, stack_fixture

BRAND_BODY = "Hi {{1}}, your {{2}} order {{3}} was cancelled at the door. Was that you?"


stack = stack_fixture(auth_jwt_secret=SECRET)


async def _next_event(stack: Stack, account: int) -> tuple[dict[str, Any], RecordedSend | None]:
    """Publishes one OTP-cancellation event; its recorded outcome and the send it caused."""
    outcome, sent = await stack.handled(fdr_event("otp_cancellation", account_id=account))
    assert len(sent) <= 1
    return outcome, sent[0] if sent else None


async def _put_settings(client: AppClient, account: int, body: dict[str, Any]) -> None:
    response = await client.put(api(account, "/settings"), json=body, headers=bearer(account))
    assert response.status_code == 200, response.text


async def test_settings_changed_in_the_portal_steer_the_next_event(stack: Stack) -> None:
    account = new_id()
    async with stack.http() as client:
        # Off by default: it costs money.
        outcome, sent = await _next_event(stack, account)
        assert outcome["outcome"] == "skipped"
        assert outcome["detail"].startswith("whatsapp_disabled")
        assert sent is None

        # Turned on: the shipped default template from the Eshopbox number.
        await _put_settings(client, account, {"isWhatsappEnabled": True})
        outcome, sent = await _next_event(stack, account)
        assert outcome["outcome"] == "sent"
        assert sent is not None
        assert sent.phone_number_id == PHONE_NUMBER_ID
        assert sent.body["template"]["name"] == "fdr_otp_cancellation"

        # The brand's own number and its own template, verified with Meta.
        own = SenderConnection(
            connection_id=new_id(),
            account_id=account,
            phone_number_id=f"pn{new_id()}",
            waba_id=f"waba{new_id()}",
            access_token=f"token-{new_id()}",
            app_secret=f"secret-{new_id()}",
            name="Brand WhatsApp",
        )
        stack.engine_fake.install(own)
        stack.meta.add_sender(
            phone_number_id=own.phone_number_id, waba_id=own.waba_id, token=own.access_token
        )
        name = f"brand_otp_{new_id()}"
        stack.meta.add_template(
            own.waba_id,
            name,
            "en_US",
            "APPROVED",
            BRAND_BODY,
            ("I didn't cancel", "Confirm cancel"),
        )
        created = await client.post(
            api(account, "/templates"),
            json={
                "name": name,
                "language": "en_US",
                "body": BRAND_BODY,
                "variables": ["first_name", "brand", "order_number"],
                "reason": "otp_cancellation",
                "buttons": [
                    {"id": "not_cancelled", "title": "I didn't cancel"},
                    {"id": "confirm_cancel", "title": "Confirm cancel"},
                ],
            },
            headers=bearer(account),
        )
        assert created.status_code == 201, created.text
        template_id = created.json()["id"]
        connection = {"isWhatsappEnabled": True, "whatsappSenderConnectionId": own.connection_id}
        await _put_settings(client, account, connection)
        verified = await client.post(
            api(account, f"/templates/{template_id}/verify"), headers=bearer(account)
        )
        assert verified.status_code == 200, verified.text
        await _put_settings(
            client, account, {**connection, "templates": {"otp_cancellation": template_id}}
        )
        outcome, sent = await _next_event(stack, account)
        assert outcome["outcome"] == "sent"
        assert sent is not None
        assert sent.phone_number_id == own.phone_number_id
        assert sent.headers["Authorization"] == f"Bearer {own.access_token}"
        assert sent.body["template"]["name"] == name
        assert sent.body["template"]["language"]["code"] == "en_US"
        [parameters] = [c for c in sent.body["template"]["components"] if c["type"] == "body"]
        assert [p["text"] for p in parameters["parameters"]] == [
            "Aman",
            "Scitron Shopify",
            "4980116095129",
        ]

        # The conversation shows in the portal, with the brand's template.
        listed = await client.get(
            api(account, "/conversations"),
            params={"shipmentId": outcome["shipment_id"]},
            headers=bearer(account),
        )
        [summary] = listed.json()["items"]
        assert summary["templateId"] == template_id
        assert summary["senderConnectionId"] == own.connection_id

        # Off again: nothing is sent.
        await _put_settings(client, account, {**connection, "isWhatsappEnabled": False})
        outcome, sent = await _next_event(stack, account)
        assert outcome["outcome"] == "skipped"
        assert outcome["detail"].startswith("whatsapp_disabled")
        assert sent is None

        stats = await client.get(api(account, "/stats"), headers=bearer(account))
        total = stats.json()["total"]
        assert (total["fdrEvents"], total["skipped"], total["sent"]) == (4, 2, 2)
