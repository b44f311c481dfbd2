"""Settings as bytes for a cache."""

from __future__ import annotations

import msgspec

from domain.reasons import FdrReason
from domain.settings import ChannelSetting


class _Cached(msgspec.Struct, frozen=True):
    account_id: int
    enabled: bool
    sender: int | None
    templates: dict[str, int]
    language: str = "en"
    cap: int | None = None


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
    )
