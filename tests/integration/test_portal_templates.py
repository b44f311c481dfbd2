"""Templates through the portal API: create, read, change, remove, verify with Meta."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from domain.settings import SenderConnection
from infrastructure.meta.webhook_builder import template_status
from tests.conftest import DEFAULT_ACCOUNT_ID, new_id
from tests.support.meta_webhooks import signed
from tests.support.portal import PortalEnv, portal_env
from tests.support.stack import WABA_ID

BODY = "Hi {{1}}, your {{2}} order {{3}} was cancelled at the door. Was that you?"


def draft(**changes: Any) -> dict[str, Any]:
    template: dict[str, Any] = {
        "name": f"brand_otp_{new_id()}",
        "language": "en_US",
        "body": BODY,
        "variables": ["first_name", "brand", "order_number"],
        "description": "OTP based cancellation, our wording",
        "reason": "otp_cancellation",
        "buttons": [
            {"id": "not_cancelled", "title": "I didn't cancel"},
            {"id": "confirm_cancel", "title": "Confirm cancel"},
        ],
    }
    template.update(changes)
    return template


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(mysql_url: str) -> AsyncIterator[PortalEnv]:
    async with portal_env(mysql_url) as running:
        yield running


async def _connected(env: PortalEnv, account: int) -> SenderConnection:
    """The workspace sends from its own number (and verifies on its own WABA)."""
    sender = env.own_connection(account)
    response = await env.put(
        account,
        "/settings",
        {"isWhatsappEnabled": False, "whatsappSenderConnectionId": sender.connection_id},
    )
    assert response.status_code == 200, response.text
    return sender


def _at_meta(
    env: PortalEnv, sender: SenderConnection, template: dict[str, Any], **changes: Any
) -> str:
    values: dict[str, Any] = {
        "name": template["name"],
        "language": template["language"],
        "status": "APPROVED",
        "body_text": template["body"],
        "quick_replies": tuple(b["title"] for b in template["buttons"]),
    }
    values.update(changes)
    return env.meta.add_template(sender.waba_id, **values)


async def test_a_template_is_created_unverified(env: PortalEnv) -> None:
    account = new_id()
    template = draft()
    response = await env.post(account, "/templates", template)
    assert response.status_code == 201
    created = response.json()
    assert {k: created[k] for k in template} == template
    assert created["isDefault"] is False
    assert created["isVerified"] is False
    assert created["verifiedAt"] is None
    assert created["metaTemplateId"] is None
    assert (await env.get(account, f"/templates/{created['id']}")).json() == created


async def test_the_list_holds_the_shipped_defaults_and_the_workspaces_own(env: PortalEnv) -> None:
    account = new_id()
    created = (await env.post(account, "/templates", draft())).json()
    listed = (await env.get(account, "/templates")).json()
    defaults = [t for t in listed if t["isDefault"]]
    assert len(defaults) == 20  # the nine reasons and the reminder, in English and Hindi
    assert all(t["isVerified"] is False for t in defaults)
    assert [t for t in listed if not t["isDefault"]] == [created]


async def test_a_name_and_language_is_unique_in_a_workspace(env: PortalEnv) -> None:
    account = new_id()
    template = draft()
    assert (await env.post(account, "/templates", template)).status_code == 201
    again = await env.post(account, "/templates", template)
    assert again.status_code == 409
    assert again.json()["title"] == "Conflict"
    assert (
        await env.post(account, "/templates", {**template, "language": "hi"})
    ).status_code == 201
    assert (await env.post(new_id(), "/templates", template)).status_code == 201


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"variables": ["first_name"]}, "variables"),
        ({"body": "Hi {{1}} and {{3}}", "variables": ["first_name", "brand"]}, "body"),
        ({"reason": "unknown"}, "reason"),
        (
            {"buttons": [{"id": "cancel", "title": "Cancel"}, {"id": "cancel", "title": "Stop"}]},
            "buttons",
        ),
    ],
)
async def test_a_template_that_cannot_work_is_422_naming_the_field(
    env: PortalEnv, changes: dict[str, Any], field: str
) -> None:
    response = await env.post(new_id(), "/templates", draft(**changes))
    assert response.status_code == 422
    problem = response.json()
    assert problem["title"] == "Invalid template"
    assert field in [e["field"] for e in problem["errors"]]


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "Brand OTP"},
        {"language": "english"},
        {"body": ""},
        {"variables": ["shoe_size"]},
        {"buttons": [{"id": "fly_away", "title": "Fly away"}]},
        {"buttons": [{"id": "cancel", "title": "A title far too long for Meta"}]},
        {
            "buttons": [
                {"id": b, "title": b} for b in ("cancel", "support", "reattempt", "pay_online")
            ]
        },
    ],
)
async def test_a_malformed_template_is_400(env: PortalEnv, changes: dict[str, Any]) -> None:
    response = await env.post(new_id(), "/templates", draft(**changes))
    assert response.status_code == 400
    assert response.json()["errors"]


async def test_shipped_defaults_are_read_only(env: PortalEnv) -> None:
    account = new_id()
    default_id = (await env.get(account, "/settings")).json()["templates"]["refused"]
    shown = await env.get(account, f"/templates/{default_id}")
    assert shown.status_code == 200
    assert shown.json()["isDefault"] is True
    for response in [
        await env.put(account, f"/templates/{default_id}", draft()),
        await env.delete(account, f"/templates/{default_id}"),
        await env.post(account, f"/templates/{default_id}/verify"),
        await env.post(DEFAULT_ACCOUNT_ID, "/templates", draft()),
    ]:
        assert response.status_code == 403
        assert "read-only" in response.json()["detail"]


async def test_an_edit_meta_would_see_clears_the_verification(env: PortalEnv) -> None:
    account = new_id()
    sender = await _connected(env, account)
    template = draft()
    _at_meta(env, sender, template)
    template_id = (await env.post(account, "/templates", template)).json()["id"]
    assert (await env.post(account, f"/templates/{template_id}/verify")).json()["isVerified"]

    reworded = await env.put(
        account, f"/templates/{template_id}", {**template, "description": "new"}
    )
    assert reworded.status_code == 200
    assert reworded.json()["isVerified"] is True
    assert reworded.json()["description"] == "new"

    changed = await env.put(account, f"/templates/{template_id}", {**template, "body": BODY + "!"})
    assert changed.status_code == 200
    assert changed.json()["isVerified"] is False
    assert changed.json()["metaTemplateId"] is None
    assert (await env.get(account, f"/templates/{template_id}")).json() == changed.json()


async def test_a_template_in_use_cannot_change_shape_or_go(env: PortalEnv) -> None:
    account = new_id()
    sender = await _connected(env, account)
    template = draft()
    _at_meta(env, sender, template)
    template_id = (await env.post(account, "/templates", template)).json()["id"]
    await env.post(account, f"/templates/{template_id}/verify")
    chosen = await env.put(
        account,
        "/settings",
        {
            "isWhatsappEnabled": True,
            "whatsappSenderConnectionId": sender.connection_id,
            "templates": {"otp_cancellation": template_id},
        },
    )
    assert chosen.status_code == 200, chosen.text

    for response in [
        await env.put(account, f"/templates/{template_id}", {**template, "body": BODY + "!"}),
        await env.put(account, f"/templates/{template_id}", {**template, "reason": "refused"}),
        await env.delete(account, f"/templates/{template_id}"),
    ]:
        assert response.status_code == 409
        assert "used by the workspace settings for otp_cancellation" in response.json()["detail"]
    # What Meta does not see may change; a template for any reason still fits.
    loosened = await env.put(account, f"/templates/{template_id}", {**template, "reason": None})
    assert loosened.status_code == 200
    assert loosened.json()["isVerified"] is True


async def test_a_template_is_removed(env: PortalEnv) -> None:
    account = new_id()
    template_id = (await env.post(account, "/templates", draft())).json()["id"]
    removed = await env.delete(account, f"/templates/{template_id}")
    assert removed.status_code == 204
    assert removed.content == b""
    assert (await env.get(account, f"/templates/{template_id}")).status_code == 404
    assert (await env.delete(account, f"/templates/{template_id}")).status_code == 404


async def test_verify_asks_the_workspaces_own_business_account(env: PortalEnv) -> None:
    account = new_id()
    sender = await _connected(env, account)
    template = draft()
    _at_meta(env, sender, template, language="hi")
    meta_id = _at_meta(env, sender, template)
    template_id = (await env.post(account, "/templates", template)).json()["id"]

    verified = await env.post(account, f"/templates/{template_id}/verify")

    assert verified.status_code == 200, verified.text
    assert verified.json()["isVerified"] is True
    assert verified.json()["verifiedAt"] is not None
    assert verified.json()["metaTemplateId"] == meta_id
    assert env.meta.list_calls[sender.waba_id] == 1
    assert env.meta.list_calls[WABA_ID] == 0
    # Meta's list is cached: a second verification does not spend its hourly allowance.
    assert (await env.post(account, f"/templates/{template_id}/verify")).status_code == 200
    assert env.meta.list_calls[sender.waba_id] == 1


async def test_when_meta_pauses_a_template_it_is_unverified_and_meta_asked_again(
    env: PortalEnv,
) -> None:
    account = new_id()
    sender = await _connected(env, account)
    template = draft()
    meta_id = _at_meta(env, sender, template)
    template_id = (await env.post(account, "/templates", template)).json()["id"]
    assert (await env.post(account, f"/templates/{template_id}/verify")).status_code == 200
    assert env.meta.list_calls[sender.waba_id] == 1

    env.meta.set_template_status(sender.waba_id, meta_id, "PAUSED")
    body = template_status(
        int(meta_id),
        "PAUSED",
        name=template["name"],
        language=template["language"],
        waba_id=sender.waba_id,
        pause_title="FIRST_PAUSE",
    )
    webhook = await env.client.post(
        f"/webhooks/whatsapp/{sender.connection_id}",
        content=body,
        headers=signed(body, sender.app_secret),
    )
    assert webhook.status_code == 200

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the pump handles the stored body moments after the 200
        shown = (await env.get(account, f"/templates/{template_id}")).json()
        if not shown["isVerified"]:
            break
        await asyncio.sleep(0.05)
    assert shown["isVerified"] is False
    choose = await env.put(
        account,
        "/settings",
        {
            "isWhatsappEnabled": True,
            "whatsappSenderConnectionId": sender.connection_id,
            "templates": {"otp_cancellation": template_id},
        },
    )
    assert choose.status_code == 422
    [error] = choose.json()["errors"]
    assert error["field"] == "templates.otp_cancellation"
    assert "not verified" in error["message"]
    # The cached list was forgotten: Meta is asked again, and says the template is paused.
    again = await env.post(account, f"/templates/{template_id}/verify")
    assert again.status_code == 422
    assert again.json()["check"] == "status"
    assert env.meta.list_calls[sender.waba_id] == 2


@pytest.mark.parametrize(
    ("at_meta", "check", "detail"),
    [
        (None, "not_found", "not found on the WhatsApp Business Account of Brand WhatsApp"),
        ({"language": "en"}, "language", "exists in en, not in en_US"),
        ({"status": "PAUSED"}, "status", "has status PAUSED, not APPROVED"),
        ({"body_text": "Hi {{1}}, order {{2}}"}, "variables", "3 variables expected, Meta has 2"),
        ({"quick_replies": ("I didn't cancel",)}, "buttons", "2 quick-reply buttons expected"),
    ],
)
async def test_verify_says_which_check_failed(
    env: PortalEnv, at_meta: dict[str, Any] | None, check: str, detail: str
) -> None:
    account = new_id()
    sender = await _connected(env, account)
    template = draft()
    if at_meta is not None:
        _at_meta(env, sender, template, **at_meta)
    template_id = (await env.post(account, "/templates", template)).json()["id"]

    response = await env.post(account, f"/templates/{template_id}/verify")

    assert response.status_code == 422
    problem = response.json()
    assert problem["title"] == "Template not verified"
    assert problem["check"] == check
    assert detail in problem["detail"]
    assert (await env.get(account, f"/templates/{template_id}")).json()["isVerified"] is False


async def test_verify_with_the_default_sender_asks_eshopboxs_account(env: PortalEnv) -> None:
    account = new_id()
    template = draft()
    env.meta.add_template(
        WABA_ID,
        template["name"],
        template["language"],
        "APPROVED",
        template["body"],
        ("I didn't cancel", "Confirm cancel"),
    )
    template_id = (await env.post(account, "/templates", template)).json()["id"]
    response = await env.post(account, f"/templates/{template_id}/verify")
    # No other test of this module lists the default account's templates (the list is cached).
    assert response.status_code == 200, response.text
    assert env.meta.list_calls[WABA_ID] == 1


async def test_verify_when_meta_refuses_the_token_is_422(env: PortalEnv) -> None:
    account = new_id()
    sender = await _connected(env, account)
    template_id = (await env.post(account, "/templates", draft())).json()["id"]
    env.meta.fail_next(190, http_status=401)
    response = await env.post(account, f"/templates/{template_id}/verify")
    assert response.status_code == 422
    assert response.json()["title"] == "Rejected upstream"
    assert sender.access_token not in response.text


async def test_verify_when_meta_is_down_is_503(env: PortalEnv) -> None:
    account = new_id()
    await _connected(env, account)
    template_id = (await env.post(account, "/templates", draft())).json()["id"]
    env.meta.fail_next(2, http_status=503)
    response = await env.post(account, f"/templates/{template_id}/verify")
    assert response.status_code == 503
