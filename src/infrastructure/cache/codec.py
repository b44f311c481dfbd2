"""Settings as bytes for a cache."""

from __future__ import annotations

import msgspec

from domain.quiet_hours import QuietHours, from_minutes, window_minutes
from domain.reasons import FdrReason
from domain.scheduling import DefaultAction
from domain.settings import (
    DEFAULT_ACTION_CUTOFF_MINUTES,
    DEFAULT_REMINDER_DELAY_MINUTES,
    ChannelSetting,
)


class _Cached(msgspec.Struct, frozen=True):
    account_id: int
    enabled: bool
    sender: int | None
    templates: dict[str, int]
    language: str = "en"
    cap: int | None = None
    quiet: tuple[int, int, str] | None = None  # start and end minutes, zone; None: default
    reminder: int = DEFAULT_REMINDER_DELAY_MINUTES
    cutoff: int = DEFAULT_ACTION_CUTOFF_MINUTES
    actions: dict[str, str] = msgspec.field(default_factory=dict)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Cached)


def encode_setting(setting: ChannelSetting) -> bytes:
    return _encoder.encode(
        _Cached(
            account_id=setting.account_id,
            enabled=setting.whatsapp_enabled,
            sender=setting.sender_connection_id,
            templates={r.value: t for r, t in setting.templates.items()},
            language=setting.language,
            cap=setting.monthly_template_cap,
            quiet=_quiet(setting.quiet_hours),
            reminder=setting.reminder_delay_minutes,
            cutoff=setting.default_action_cutoff_minutes,
            actions={r.value: a.value for r, a in setting.default_actions.items()},
        )
    )


def decode_setting(raw: bytes) -> ChannelSetting:
    cached = _decoder.decode(raw)
    return ChannelSetting(
        account_id=cached.account_id,
        whatsapp_enabled=cached.enabled,
        sender_connection_id=cached.sender,
        templates={FdrReason(r): t for r, t in cached.templates.items()},
        language=cached.language,
        monthly_template_cap=cached.cap,
        quiet_hours=None
        if cached.quiet is None
        else QuietHours(
            from_minutes(cached.quiet[0]), from_minutes(cached.quiet[1]), cached.quiet[2]
        ),
        reminder_delay_minutes=cached.reminder,
        default_action_cutoff_minutes=cached.cutoff,
        default_actions={FdrReason(r): DefaultAction(a) for r, a in cached.actions.items()},
    )


def _quiet(window: QuietHours | None) -> tuple[int, int, str] | None:
    if window is None:
        return None
    return (window_minutes(window.start), window_minutes(window.end), window.zone)
