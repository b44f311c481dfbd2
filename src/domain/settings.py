"""A workspace's WhatsApp choices and the sender connections messages go out from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.reasons import FdrReason


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSetting:
    """Per workspace: WhatsApp on or off (off by default: it costs money), sender, templates.

    ``sender_connection_id`` None means the Eshopbox default account's connection.
    ``templates`` maps a reason to a ``wa_templates`` id; a reason missing here uses the
    default template for that reason.
    """

    account_id: int
    whatsapp_enabled: bool = False
    sender_connection_id: int | None = None
    templates: Mapping[FdrReason, int] = field(default_factory=dict)

    @classmethod
    def default(cls, account_id: int) -> ChannelSetting:
        return cls(account_id=account_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderConnection:
    """A WhatsApp app installed through the integration engine, with what it takes to send."""

    connection_id: int
    account_id: int
    phone_number_id: str
    waba_id: str
    access_token: str = field(repr=False)
    app_secret: str = field(repr=False)
    display_phone_number: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionSummary:
    """A connection as the portal lists it: no secrets."""

    connection_id: int
    account_id: int
    name: str
    app: str = "whatsapp"
    is_default: bool = False
    display_phone_number: str = ""
