"""``/settings``: WhatsApp on or off, the sender connection, the template per reason, the
reminder and the default action of a silent shopper."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from dishka.integrations.litestar import FromDishka
from litestar import Controller, Request, get, put
from litestar.openapi.spec import Example
from litestar.params import Body

from application.use_cases.portal.get_channel_settings import (
    ChannelSettingsView,
    GetChannelSettings,
)
from application.use_cases.portal.update_channel_settings import (
    SettingsChange,
    UpdateChannelSettings,
)
from domain.errors import InvalidSettings
from domain.quiet_hours import format_clock
from domain.settings import DEFAULT_ACTION_CUTOFF_MINUTES, DEFAULT_REMINDER_DELAY_MINUTES
from entrypoints.http.portal.body import strict_body
from entrypoints.http.portal.docs import MAX_ID, AccountId, problems, success

_EXAMPLE = {
    "isWhatsappEnabled": True,
    "whatsappSenderConnectionId": None,
    "templates": {"otp_cancellation": 8, "refused": 42},
    "language": "en",
    "monthlyTemplateCap": None,
    "quietHoursStart": "21:00",
    "quietHoursEnd": "09:00",
    "quietHoursTimeZone": "Asia/Kolkata",
    "reminderDelayMinutes": 240,
    "defaultActionCutoffMinutes": 120,
    "defaultActions": {"customer_unavailable": "reattempt"},
}


class ChannelSettingsBody(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A workspace's WhatsApp settings (the seed's ``poe_channel_*`` columns)."""

    is_whatsapp_enabled: Annotated[
        bool, msgspec.Meta(description="Send WhatsApp messages on failed deliveries (costs money).")
    ]
    whatsapp_sender_connection_id: Annotated[
        Annotated[int, msgspec.Meta(ge=0, le=MAX_ID)] | None,
        msgspec.Meta(
            description="The integration engine connection to send from; null (or 0) is the "
            "Eshopbox default."
        ),
    ] = None
    templates: Annotated[
        dict[str, Annotated[int, msgspec.Meta(gt=0, le=MAX_ID)]],
        msgspec.Meta(
            description="Reason key -> `wa_templates` id. GET lists every reason (the shipped "
            "default where none was chosen); in PUT a reason left out uses the default.",
            max_length=64,
        ),
    ] = msgspec.field(default_factory=dict)
    language: Annotated[
        str,
        msgspec.Meta(
            description="The language of shoppers who have not chosen one: `en` or `hi` "
            "(docs/languages.md). Templates and follow-ups are sent in it where they exist.",
            max_length=16,
        ),
    ] = "en"
    monthly_template_cap: Annotated[
        Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] | None,
        msgspec.Meta(
            description="At most this many templates per calendar month (UTC); after it, "
            "failed deliveries are skipped (`budget`). null: no cap (docs/cost.md)."
        ),
    ] = None
    quiet_hours_start: Annotated[
        Annotated[str, msgspec.Meta(max_length=16)] | None,
        msgspec.Meta(
            description="Quiet hours start, `HH:MM` (24-hour) in `quietHoursTimeZone`: no "
            "failed-delivery template goes out from then until `quietHoursEnd`; "
            "events in between are held and sent when quiet hours end. A window may cross "
            "midnight; start equal to end means no quiet hours. null (in PUT): the "
            "deployment's default (`WA_QUIET_HOURS`, 21:00-09:00). docs/quiet-hours.md."
        ),
    ] = None
    quiet_hours_end: Annotated[
        Annotated[str, msgspec.Meta(max_length=16)] | None,
        msgspec.Meta(description="Quiet hours end, `HH:MM`: held messages go out at this minute."),
    ] = None
    quiet_hours_time_zone: Annotated[
        Annotated[str, msgspec.Meta(max_length=64)] | None,
        msgspec.Meta(
            description="The shoppers' IANA time zone the window is in (e.g. `Asia/Kolkata`). "
            "null (in PUT): the deployment's default (`WA_QUIET_HOURS_ZONE`)."
        ),
    ] = None
    reminder_delay_minutes: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            le=7 * 24 * 60,
            description="A shopper who has not answered the first message this many minutes "
            "after it gets one reminder (a template), never after the courier's next attempt; "
            "0: no reminder (docs/scheduler.md).",
        ),
    ] = DEFAULT_REMINDER_DELAY_MINUTES
    default_action_cutoff_minutes: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            le=24 * 60,
            description="The default action of a silent shopper is asked of logistics this "
            "many minutes before the courier's next attempt (docs/scheduler.md).",
        ),
    ] = DEFAULT_ACTION_CUTOFF_MINUTES
    default_actions: Annotated[
        dict[str, str],
        msgspec.Meta(
            description="Reason key -> what happens when the shopper stays silent until the "
            "cut-off: `nothing` (the default) or `reattempt`, sent to logistics like a "
            "tapped button and marked automatic. GET lists every reason.",
            max_length=64,
        ),
    ] = msgspec.field(default_factory=dict)


_DECODER = msgspec.json.Decoder(ChannelSettingsBody)


def _body(view: ChannelSettingsView) -> ChannelSettingsBody:
    return ChannelSettingsBody(
        is_whatsapp_enabled=view.whatsapp_enabled,
        whatsapp_sender_connection_id=view.sender_connection_id,
        templates={r.value: t for r, t in view.templates.items()},
        language=view.language,
        monthly_template_cap=view.monthly_template_cap,
        quiet_hours_start=format_clock(view.quiet_hours.start),
        quiet_hours_end=format_clock(view.quiet_hours.end),
        quiet_hours_time_zone=view.quiet_hours.zone,
        reminder_delay_minutes=view.reminder_delay_minutes,
        default_action_cutoff_minutes=view.default_action_cutoff_minutes,
        default_actions={r.value: a.value for r, a in view.default_actions.items()},
    )


class SettingsController(Controller):
    path = "/settings"
    tags = ["portal: settings"]  # noqa: RUF012

    @get(
        summary="The workspace's WhatsApp settings",
        description=(
            "A workspace that never saved settings gets the defaults: WhatsApp off, the "
            "Eshopbox default connection, the shipped default template for every reason."
        ),
        responses={**success(ChannelSettingsBody, "The settings", _EXAMPLE), **problems()},
    )
    async def get_settings(
        self, account_id: AccountId, settings: FromDishka[GetChannelSettings]
    ) -> ChannelSettingsBody:
        return _body(await settings(account_id))

    @put(
        summary="Change the workspace's WhatsApp settings",
        description=(
            "Replaces the settings. The connection must be one of the workspace's (see "
            "`/connections`) or null for the Eshopbox default; every template must exist in "
            "the workspace (or be a shipped default), fit the reason and be verified with "
            "Meta. Workers see the change on their next event (the settings cache is "
            "invalidated). 422 names every field that is wrong."
        ),
        responses={**success(ChannelSettingsBody, "The settings saved", _EXAMPLE), **problems(422)},
    )
    async def put_settings(
        self,
        account_id: AccountId,
        data: Annotated[
            ChannelSettingsBody,
            Body(examples=[Example(summary="Enable with a chosen template", value=_EXAMPLE)]),
        ],
        request: Request[Any, Any, Any],
        update: FromDishka[UpdateChannelSettings],
    ) -> ChannelSettingsBody:
        data = await strict_body(request, _DECODER)
        try:
            view = await update(account_id, _change(data))
        except InvalidSettings as exc:
            raise _on_the_wire(exc) from None
        return _body(view)


def _change(data: ChannelSettingsBody) -> SettingsChange:
    return SettingsChange(
        whatsapp_enabled=data.is_whatsapp_enabled,
        sender_connection_id=data.whatsapp_sender_connection_id,
        templates=data.templates,
        language=data.language,
        monthly_template_cap=data.monthly_template_cap,
        quiet_hours_start=data.quiet_hours_start,
        quiet_hours_end=data.quiet_hours_end,
        quiet_hours_zone=data.quiet_hours_time_zone,
        reminder_delay_minutes=data.reminder_delay_minutes,
        default_action_cutoff_minutes=data.default_action_cutoff_minutes,
        default_actions=data.default_actions,
    )


#: ``SettingsChange``'s names of the fields the use case may refuse, and the body's.
_WIRE_NAMES = {
    "sender_connection_id": "whatsappSenderConnectionId",
    "quiet_hours_start": "quietHoursStart",
    "quiet_hours_end": "quietHoursEnd",
    "quiet_hours_zone": "quietHoursTimeZone",
    "default_actions": "defaultActions",
}


def _on_the_wire(refused: InvalidSettings) -> InvalidSettings:
    """The same refusal, each field named as the request body names it (``templates.<reason>``
    and ``language`` are the same in both)."""
    errors = {}
    for field, message in refused.errors.items():
        head, dot, entry = field.partition(".")
        errors[_WIRE_NAMES.get(head, head) + dot + entry] = message
    return InvalidSettings(errors)
