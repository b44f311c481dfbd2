"""Settings and sender connections through the portal API, on MariaDB with the fakes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from application.services import SettingsReader
from domain.reasons import FdrReason
from domain.settings import SenderConnection
from infrastructure.db.seed_data import TEMPLATES_V1
from infrastructure.db.tables import channel_notifications, channel_settings
from tests.conftest import DEFAULT_ACCOUNT_ID, new_id
from tests.support.portal import PortalEnv, portal_env

REASONS = [r.value for r in FdrReason.known()]
#: The quiet hours a workspace that chose none is shown (the deployment's default).
QUIET = {"quietHoursStart": "21:00", "quietHoursEnd": "09:00", "quietHoursTimeZone": "Asia/Kolkata"}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(mysql_url: str) -> AsyncIterator[PortalEnv]:
    async with portal_env(mysql_url) as running:
        yield running


async def _defaults(env: PortalEnv) -> dict[str, int]:
    listed = (await env.get(DEFAULT_ACCOUNT_ID, "/templates")).json()
    found: dict[str, int] = {}
    for t in listed:
        if t["isDefault"] and t["reason"]:
            found.setdefault(t["reason"], t["id"])
    return found


async def _verified_template(env: PortalEnv, account: int, reason: str = "refused") -> int:
    """A template of the workspace, created and verified with Meta on its own connection."""
    sender = env.own_connection(account)
    name = f"brand_{reason}_{new_id()}"
    body = "Hi {{1}}, order {{2}}."
    env.meta.add_template(sender.waba_id, name, "en", "APPROVED", body, ("Reattempt delivery",))
    created = await env.post(
        account,
        "/templates",
        {
            "name": name,
            "language": "en",
            "body": body,
            "variables": ["first_name", "order_number"],
            "reason": reason,
            "buttons": [{"id": "reattempt", "title": "Reattempt delivery"}],
        },
    )
    template_id: int = created.json()["id"]
    connected = await env.put(
        account,
        "/settings",
        {"isWhatsappEnabled": False, "whatsappSenderConnectionId": sender.connection_id},
    )
    assert connected.status_code == 200, connected.text
    verified = await env.post(account, f"/templates/{template_id}/verify")
    assert verified.status_code == 200, verified.text
    return template_id


async def test_a_new_workspace_gets_the_defaults(env: PortalEnv) -> None:
    response = await env.get(new_id(), "/settings")
    assert response.status_code == 200
    body = response.json()
    assert body["isWhatsappEnabled"] is False
    assert body["whatsappSenderConnectionId"] is None
    assert list(body["templates"]) == REASONS
    assert body["templates"] == await _defaults(env)
    assert len(TEMPLATES_V1) == len(REASONS)


async def test_settings_are_saved_and_read_back(env: PortalEnv) -> None:
    account = new_id()
    template_id = await _verified_template(env, account, "refused")
    connection = (await env.get(account, "/settings")).json()["whatsappSenderConnectionId"]
    change = {
        "isWhatsappEnabled": True,
        "whatsappSenderConnectionId": connection,
        "templates": {"refused": template_id},
    }
    saved = await env.put(account, "/settings", change)
    assert saved.status_code == 200, saved.text
    # From its own WhatsApp account only the workspace's templates exist: the other reasons
    # are not sent, and the settings say so by leaving them out.
    assert saved.json() == {
        **change,
        "language": "en",
        "monthlyTemplateCap": None,
        "reminderDelayMinutes": 240,
        "defaultActionCutoffMinutes": 120,
        "defaultActions": dict.fromkeys(REASONS, "nothing"),
        **QUIET,
    }
    assert (await env.get(account, "/settings")).json() == saved.json()

    async with env.db.connect() as conn:
        sender = (
            await conn.execute(
                select(channel_settings.c.whatsappSenderConnectionId).where(
                    channel_settings.c.account_id == account
                )
            )
        ).scalar_one()
        rows = (
            await conn.execute(
                select(
                    channel_notifications.c.notification_type,
                    channel_notifications.c.isWhatsappEnabled,
                    channel_notifications.c.whatsappTemplateId,
                ).where(channel_notifications.c.account_id == account)
            )
        ).all()
    assert sender == connection
    # The shipped default is not stored: the workspace follows the defaults for oda.
    assert {
        r.notification_type: (bool(r.isWhatsappEnabled), r.whatsappTemplateId) for r in rows
    } == {reason: (True, template_id if reason == "refused" else None) for reason in REASONS}


async def test_the_reminder_delay_cut_off_and_default_actions_are_saved_and_checked(
    env: PortalEnv,
) -> None:
    account = new_id()
    defaults = (await env.get(account, "/settings")).json()
    assert defaults["reminderDelayMinutes"] == 240
    assert defaults["defaultActionCutoffMinutes"] == 120
    assert defaults["defaultActions"] == dict.fromkeys(REASONS, "nothing")
    change = {
        "isWhatsappEnabled": True,
        "reminderDelayMinutes": 90,
        "defaultActionCutoffMinutes": 180,
        "defaultActions": {"customer_unavailable": "reattempt", "refused": "nothing"},
    }
    saved = await env.put(account, "/settings", change)
    assert saved.status_code == 200, saved.text
    body = (await env.get(account, "/settings")).json()
    assert (body["reminderDelayMinutes"], body["defaultActionCutoffMinutes"]) == (90, 180)
    assert body["defaultActions"] == {
        **dict.fromkeys(REASONS, "nothing"),
        "customer_unavailable": "reattempt",
    }
    bad = await env.put(
        account,
        "/settings",
        {**change, "defaultActions": {"customer_unavailable": "explode", "nonsense": "reattempt"}},
    )
    assert bad.status_code == 422, bad.text
    problem = json.dumps(bad.json())
    assert "defaultActions.customer_unavailable" in problem
    assert "defaultActions.nonsense" in problem
    negative = await env.put(account, "/settings", {**change, "reminderDelayMinutes": -1})
    assert negative.status_code in (400, 422), negative.text
    assert (await env.get(account, "/settings")).json() == body  # nothing changed


async def test_from_its_own_account_a_workspace_cannot_choose_eshopboxs_templates(
    env: PortalEnv,
) -> None:
    account = new_id()
    template_id = await _verified_template(env, account, "refused")
    connection = (await env.get(account, "/settings")).json()["whatsappSenderConnectionId"]
    defaults = await _defaults(env)
    before = (await env.get(account, "/settings")).json()

    refused = await env.put(
        account,
        "/settings",
        {
            "isWhatsappEnabled": True,
            "whatsappSenderConnectionId": connection,
            "templates": {"refused": template_id, "oda": defaults["oda"]},
        },
    )

    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["field"] == "templates.oda"
    assert "cannot be sent from the workspace's own WhatsApp account" in error["message"]
    assert (await env.get(account, "/settings")).json() == before  # nothing was stored
    # Back on the Eshopbox connection: its defaults again.
    back = await env.put(
        account,
        "/settings",
        {"isWhatsappEnabled": True, "whatsappSenderConnectionId": None, "templates": {}},
    )
    assert back.status_code == 200, back.text
    assert back.json()["templates"] == defaults


async def test_a_template_verified_on_another_business_account_cannot_be_chosen(
    env: PortalEnv,
) -> None:
    account = new_id()
    # Connection B first: the engine's list of the workspace's connections is cached briefly.
    other = env.own_connection(account)  # a business account of its own
    template_id = await _verified_template(env, account, "refused")  # on connection A's
    before = (await env.get(account, "/settings")).json()

    response = await env.put(
        account,
        "/settings",
        {
            "isWhatsappEnabled": True,
            "whatsappSenderConnectionId": other.connection_id,
            "templates": {"refused": template_id},
        },
    )

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "templates.refused"
    assert "verified on another WhatsApp Business Account" in error["message"]
    assert (await env.get(account, "/settings")).json() == before  # nothing was stored


async def test_a_connection_whose_credentials_are_gone_is_refused(env: PortalEnv) -> None:
    account = new_id()
    own = env.own_connection(account)
    assert (await env.get(account, "/connections")).status_code == 200  # listed (and cached)
    env.engine_fake.uninstall(own.connection_id)  # ...then removed from the engine
    before = (await env.get(account, "/settings")).json()

    response = await env.put(
        account,
        "/settings",
        {"isWhatsappEnabled": True, "whatsappSenderConnectionId": own.connection_id},
    )

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "whatsappSenderConnectionId"
    assert error["message"].startswith(f"connection {own.connection_id} cannot send")
    assert (await env.get(account, "/settings")).json() == before  # nothing was stored


async def test_zero_means_the_default_connection(env: PortalEnv) -> None:
    account = new_id()
    saved = await env.put(
        account, "/settings", {"isWhatsappEnabled": True, "whatsappSenderConnectionId": 0}
    )
    assert saved.status_code == 200
    assert saved.json()["whatsappSenderConnectionId"] is None


async def test_the_worker_sees_a_change_at_once(env: PortalEnv) -> None:
    account = new_id()
    reader = await env.client.app.state.dishka_container.get(SettingsReader)
    async with env.uow() as uow:
        assert (await reader.get(uow, account)).whatsapp_enabled is False  # now cached
    assert (await env.put(account, "/settings", {"isWhatsappEnabled": True})).status_code == 200
    async with env.uow() as uow:
        assert (await reader.get(uow, account)).whatsapp_enabled is True


@pytest.mark.parametrize(
    ("templates", "field", "message"),
    [
        ({"teleport": 1}, "templates.teleport", "unknown reason 'teleport'"),
        ({"unknown": 1}, "templates.unknown", "unknown reason 'unknown'"),
        ({"refused": 10**15}, "templates.refused", f"template {10**15} not found"),
    ],
)
async def test_wrong_templates_are_named(
    env: PortalEnv, templates: dict[str, int], field: str, message: str
) -> None:
    response = await env.put(
        new_id(), "/settings", {"isWhatsappEnabled": True, "templates": templates}
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["title"] == "Invalid settings"
    assert problem["errors"][0]["field"] == field
    assert problem["errors"][0]["message"].startswith(message)


async def test_a_template_for_another_reason_or_unverified_is_refused(env: PortalEnv) -> None:
    account = new_id()
    verified = await _verified_template(env, account, "refused")
    unverified = (
        await env.post(
            account,
            "/templates",
            {
                "name": "not_yet",
                "language": "en",
                "body": "Hello {{1}}",
                "variables": ["first_name"],
            },
        )
    ).json()["id"]
    defaults = await _defaults(env)
    response = await env.put(
        account,
        "/settings",
        {
            "isWhatsappEnabled": True,
            "templates": {"oda": verified, "refused": unverified, "payment_issue": defaults["oda"]},
        },
    )
    assert response.status_code == 422
    assert {e["field"]: e["message"] for e in response.json()["errors"]} == {
        "templates.oda": f"template {verified} is for refused, not oda",
        "templates.refused": f"template {unverified} is not verified with Meta; verify it first",
        "templates.payment_issue": f"template {defaults['oda']} is for oda, not payment_issue",
    }
    assert (await env.get(account, "/settings")).json()["isWhatsappEnabled"] is False


async def test_only_the_workspaces_own_connections_can_be_chosen(env: PortalEnv) -> None:
    account, neighbour = new_id(), new_id()
    theirs = env.own_connection(neighbour)
    response = await env.put(
        account,
        "/settings",
        {"isWhatsappEnabled": True, "whatsappSenderConnectionId": theirs.connection_id},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "whatsappSenderConnectionId",
            "message": f"connection {theirs.connection_id} is not an active WhatsApp connection "
            "of this workspace",
        }
    ]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"isWhatsappEnabled": "yes"},
        {"isWhatsappEnabled": True, "templates": {"refused": "three"}},
        {"isWhatsappEnabled": True, "templates": {"refused": 0}},
        {"isWhatsappEnabled": True, "whatsappSenderConnectionId": -1},
        {"isWhatsappEnabled": 0},
        {"isWhatsappEnabled": "false"},
        {"isWhatsappEnabled": True, "templates": {"refused": "42"}},
        [],
        None,
    ],
)
async def test_a_malformed_body_is_400(env: PortalEnv, body: Any) -> None:
    response = await env.put(new_id(), "/settings", body)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Invalid request"


async def test_a_wrongly_typed_field_is_named(env: PortalEnv) -> None:
    response = await env.put(new_id(), "/settings", {"isWhatsappEnabled": 0})
    assert response.json()["errors"] == [
        {"field": "isWhatsappEnabled", "message": "Expected `bool`, got `int`"}
    ]


async def test_connections_list_the_default_and_the_workspaces_own(env: PortalEnv) -> None:
    account = new_id()
    own = env.own_connection(account)
    env.own_connection(new_id())  # a neighbour's
    disabled = SenderConnection(
        connection_id=new_id(),
        account_id=account,
        phone_number_id="pn-off",
        waba_id="waba-off",
        access_token="token-off",
        app_secret="secret-off",
        name="Old number",
    )
    env.engine_fake.install(disabled, status="disabled")
    env.engine_fake.install(
        SenderConnection(
            connection_id=new_id(),
            account_id=account,
            phone_number_id="pn-sms",
            waba_id="waba-sms",
            access_token="token-sms",
            app_secret="secret-sms",
        ),
        app="sms",
    )
    response = await env.get(account, "/connections")
    assert response.status_code == 200
    assert response.json() == [
        {
            "connectionId": 0,
            "name": "Eshopbox",
            "app": "whatsapp",
            "displayPhoneNumber": "",
            "isDefault": True,
            "isSelected": True,
        },
        {
            "connectionId": own.connection_id,
            "name": "Brand WhatsApp",
            "app": "whatsapp",
            "displayPhoneNumber": "+91 99887 76655",
            "isDefault": False,
            "isSelected": False,
        },
    ]
    assert own.access_token not in response.text
    assert own.app_secret not in response.text
    await env.put(
        account,
        "/settings",
        {"isWhatsappEnabled": True, "whatsappSenderConnectionId": own.connection_id},
    )
    selected = [c["isSelected"] for c in (await env.get(account, "/connections")).json()]
    assert selected == [False, True]


async def test_the_integration_engine_down_is_503(env: PortalEnv) -> None:
    env.engine_fake.fail_next(503, times=3)
    response = await env.get(new_id(), "/connections")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["title"] == "Service unavailable"


async def test_a_workspace_keeps_its_default_language_and_monthly_cap(env: PortalEnv) -> None:
    account = new_id()
    assert (await env.get(account, "/settings")).json()["language"] == "en"
    saved = await env.put(
        account,
        "/settings",
        {"isWhatsappEnabled": True, "language": "hi", "monthlyTemplateCap": 500},
    )
    assert saved.status_code == 200, saved.text
    shown = (await env.get(account, "/settings")).json()
    assert (shown["language"], shown["monthlyTemplateCap"]) == ("hi", 500)

    refused = await env.put(account, "/settings", {"isWhatsappEnabled": True, "language": "fr"})
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["field"] == "language"
    assert (await env.get(account, "/settings")).json() == shown  # nothing was stored
    # Left out: back to English and no cap.
    await env.put(account, "/settings", {"isWhatsappEnabled": True})
    shown = (await env.get(account, "/settings")).json()
    assert (shown["language"], shown["monthlyTemplateCap"]) == ("en", None)


async def test_a_workspace_chooses_its_quiet_hours_and_bad_ones_are_named(env: PortalEnv) -> None:
    account = new_id()
    assert {
        k: v for k, v in (await env.get(account, "/settings")).json().items() if k in QUIET
    } == QUIET
    window = {
        "quietHoursStart": "22:30",
        "quietHoursEnd": "07:00",
        "quietHoursTimeZone": "Europe/London",
    }
    saved = await env.put(account, "/settings", {"isWhatsappEnabled": True, **window})
    assert saved.status_code == 200, saved.text
    shown = (await env.get(account, "/settings")).json()
    assert {k: shown[k] for k in window} == window
    # Only the zone given: the default hours in that zone.
    only_zone = await env.put(
        account, "/settings", {"isWhatsappEnabled": True, "quietHoursTimeZone": "Asia/Dubai"}
    )
    assert {k: only_zone.json()[k] for k in QUIET} == {**QUIET, "quietHoursTimeZone": "Asia/Dubai"}

    refused = await env.put(
        account,
        "/settings",
        {
            "isWhatsappEnabled": True,
            "quietHoursStart": "25:00",
            "quietHoursEnd": "9am",
            "quietHoursTimeZone": "Mars/Olympus_Mons",
        },
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    named = {e["field"]: e["message"] for e in refused.json()["errors"]}
    assert set(named) == {"quietHoursStart", "quietHoursEnd", "quietHoursTimeZone"}
    assert "Mars/Olympus_Mons" in named["quietHoursTimeZone"]
    shown_after = (await env.get(account, "/settings")).json()
    assert shown_after["quietHoursTimeZone"] == "Asia/Dubai"  # nothing was stored
    # Start equal to end: no quiet hours; all left out: the default again.
    off = await env.put(
        account,
        "/settings",
        {"isWhatsappEnabled": True, "quietHoursStart": "00:00", "quietHoursEnd": "00:00"},
    )
    assert (off.json()["quietHoursStart"], off.json()["quietHoursEnd"]) == ("00:00", "00:00")
    back = await env.put(account, "/settings", {"isWhatsappEnabled": True})
    assert {k: back.json()[k] for k in QUIET} == QUIET
