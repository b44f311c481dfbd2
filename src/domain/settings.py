"""A workspace's WhatsApp choices and the sender connections messages go out from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.quiet_hours import QuietHours
from domain.reasons import FdrReason
from domain.scheduling import DefaultAction

#: A silent shopper's one reminder, this long after the first template (docs/scheduler.md).
DEFAULT_REMINDER_DELAY_MINUTES = 240
#: The default action goes to logistics this long before the courier's next attempt.
DEFAULT_ACTION_CUTOFF_MINUTES = 120

#: The connection id the portal uses for the Eshopbox default connection (as does None).
DEFAULT_CONNECTION_ID = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSetting:
    """Per workspace: WhatsApp on or off (off by default: it costs money), sender, templates.

    ``sender_connection_id`` None means the Eshopbox default account's connection.
    ``templates`` maps a reason to a ``wa_templates`` id. From the Eshopbox connection a
    reason missing here uses Eshopbox's default template for it; from the workspace's own
    WhatsApp app only the workspace's templates exist (Meta knows templates per business
    account), so a reason without one is not sent.
    """

    account_id: int
    whatsapp_enabled: bool = False
    sender_connection_id: int | None = None
    templates: Mapping[FdrReason, int] = field(default_factory=dict)
    language: str = "en"  # what shoppers without a language of their own read (languages.md)
    monthly_template_cap: int | None = None  # templates per calendar month; None: no cap (cost.md)
    # No template between these hours in this zone; None: the deployment's default
    # (WA_QUIET_HOURS, docs/quiet-hours.md).
    quiet_hours: QuietHours | None = None
    reminder_delay_minutes: int = DEFAULT_REMINDER_DELAY_MINUTES  # 0: no reminder
    default_action_cutoff_minutes: int = DEFAULT_ACTION_CUTOFF_MINUTES
    # Per reason, what a shopper's silence leads to at the cut-off; missing: nothing.
    default_actions: Mapping[FdrReason, DefaultAction] = field(default_factory=dict)

    @classmethod
    def default(cls, account_id: int) -> ChannelSetting:
        return cls(account_id=account_id)

    @property
    def sends_from_own_account(self) -> bool:
        return self.sender_connection_id not in (None, DEFAULT_CONNECTION_ID)

    def template_owners(self, default_account_id: int) -> tuple[int, ...]:
        """Whose templates can be sent: from the workspace's own WhatsApp account only its
        own (Meta knows a template on the business account it was made on), from the
        Eshopbox connection Eshopbox's too."""
        if self.sends_from_own_account:
            return (self.account_id,)
        return (self.account_id, default_account_id)


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

    #: The credentials (as the integration engine names them) that cannot go out with a
    #: request, found where they came in (the directory): the connection is not sent with,
    #: but its app secret still checks its webhooks.
    unusable: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionSummary:
    """A connection as the portal lists it: no secrets."""

    connection_id: int
    account_id: int
    name: str
    app: str = "whatsapp"
    is_default: bool = False
    display_phone_number: str = ""
