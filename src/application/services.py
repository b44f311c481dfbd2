"""Small services the use cases share: settings with a cache, the reason rules, the sender."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from application.ports.cache import SETTINGS_MAX_AGE_SECONDS, CacheRead, SettingsCache
from application.ports.collaborators import ConnectionDirectory
from application.ports.repositories import UnitOfWork
from application.ttl_cache import TtlCache
from domain.errors import UpstreamRejected, UpstreamUnavailable
from domain.language import Catalogs, normalise
from domain.messages import DeliveryReport, OutgoingMessage, QuickReply, in_meta_order
from domain.phone import DEFAULT_REGION
from domain.quiet_hours import DEFAULT_QUIET_HOURS, QuietHours
from domain.reason_rules import ReasonRule
from domain.settings import DEFAULT_CONNECTION_ID, ChannelSetting, SenderConnection
from domain.templates import WaTemplate

_log = structlog.get_logger("settings")


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationOptions:
    """What the composition root tells the use cases about this deployment."""

    default_account_id: int
    tracking_base_url: str  # the service's own public URL; links go through /track/whatsapp
    support_phone: str
    support_email: str
    phone_region: str = DEFAULT_REGION  # alternate numbers must be this region's mobiles
    in_flight_grace_seconds: float = 120.0
    retry_delay_seconds: int = 30
    stale_after_seconds: float = 48 * 3600.0  # older failed attempts are not notified
    unknown_recheck_seconds: float = 600.0  # an unknown send with no status is looked at again
    catalogs: Catalogs = field(default_factory=Catalogs)  # shoppers' texts; English by default
    quiet_hours: QuietHours = DEFAULT_QUIET_HOURS  # for workspaces that chose none


async def attach_early_reports(
    uow: UnitOfWork, message: OutgoingMessage, now: datetime
) -> list[DeliveryReport]:
    """Statuses that raced ahead of Meta's answer to the send are joined to the message now,
    applied as the status webhook applies them (in Meta's order; a failure keeps its code);
    the ones that moved it, in that order (the caller writes it, and tells them after its
    commit). The caller has written the wamid first (docs/sending.md, "Statuses ahead of
    Meta's answer")."""
    if message.message_id is None or message.id is None:
        return []
    moved: list[DeliveryReport] = []
    if await uow.delivery_reports.link(message.message_id, message.id):
        reports = await uow.delivery_reports.for_message(message.message_id)
        for report in in_meta_order(reports):
            if message.apply(report, now):
                moved.append(report)
    return moved


async def in_language(
    uow: UnitOfWork, template: WaTemplate, language: str, default_account_id: int
) -> WaTemplate:
    """The same template (name, owner) in ``language`` when one exists and may be sent (the
    shipped ones, or the workspace's verified with Meta), else ``template`` itself
    (docs/languages.md)."""
    if normalise(template.language) == language:
        return template
    for other in await uow.templates.for_account(template.account_id):
        if (
            other.template_name == template.template_name
            and normalise(other.language) == language
            and (other.account_id == default_account_id or other.is_verified)
        ):
            return other
    return template


async def buttons_in(
    uow: UnitOfWork, template: WaTemplate | None, language: str | None, default_account_id: int
) -> tuple[QuickReply, ...]:
    """The template's buttons as they are offered again later in the conversation: the same
    buttons (ids), titled as in the template's sibling in the shopper's current language when
    there is one (``in_language``); a button the sibling lacks keeps its own title."""
    if template is None:
        return ()
    if language is None:
        return template.buttons
    sibling = await in_language(uow, template, language, default_account_id)
    titles = {b.id: b.title for b in sibling.buttons}
    return tuple(QuickReply(b.id, titles.get(b.id, b.title)) for b in template.buttons)


class SettingsReader:
    """Workspace settings through the shared cache; while it is down, from the database.

    A change is seen everywhere within ``max_age`` seconds (docs/outages.md): the shared cache
    keeps no entry longer than that after its read, and while the cache cannot be reached each
    process keeps what it read from the database that long at most. A cache that failed is
    left alone for ``retry_cache_after`` seconds (a frozen Redis would cost every event its
    timeout), and the outage is logged once, when it starts and when it ends.
    """

    def __init__(
        self,
        cache: SettingsCache,
        *,
        max_age: float = SETTINGS_MAX_AGE_SECONDS,
        retry_cache_after: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache = cache
        self._max_age = max_age
        self._retry_after = retry_cache_after
        self._now = monotonic
        self._cache_down_until: float | None = None  # None: the cache answered last time
        self._read_here: dict[int, tuple[float, ChannelSetting]] = {}  # while the cache is down

    @property
    def cache_down(self) -> bool:
        return self._cache_down_until is not None

    async def get(self, uow: UnitOfWork, account_id: int) -> ChannelSetting:
        cached = await self._from_cache(account_id)
        if cached is not None and cached.setting is not None:
            return cached.setting
        if cached is None:
            here = self._read_here.get(account_id)
            if here is not None and self._now() - here[0] < self._max_age:
                return here[1]
        read_at = self._now()  # before the read: the copy is at most as fresh as this
        stored = await uow.settings.get(account_id)
        setting = stored or ChannelSetting.default(account_id)
        if cached is None:
            self._read_here[account_id] = (read_at, setting)
            return setting
        try:
            # Refused if the workspace changed since the miss: what was just read from the
            # database may be from before the change.
            await self._cache.put(setting, cached.generation)
        except UpstreamUnavailable as exc:
            self._cache_failed(exc)
        return setting

    async def forget(self, account_id: int) -> None:
        """After a write: the next read anywhere sees the database (within ``max_age`` when
        the shared cache cannot be told; raises ``UpstreamUnavailable`` then)."""
        self._read_here.pop(account_id, None)
        await self._cache.invalidate(account_id)

    async def _from_cache(self, account_id: int) -> CacheRead | None:
        """The cache's answer, or None while it is down."""
        if self._cache_down_until is not None and self._now() < self._cache_down_until:
            return None
        try:
            cached = await self._cache.get(account_id)
        except UpstreamUnavailable as exc:
            self._cache_failed(exc)
            return None
        if self._cache_down_until is not None:
            self._cache_down_until = None
            _log.info("settings cache reachable again")
        return cached

    def _cache_failed(self, exc: UpstreamUnavailable) -> None:
        if self._cache_down_until is None:
            _log.warning(
                "settings cache unavailable, reading the database",
                error=str(exc)[:200],
                max_age_seconds=self._max_age,
            )
        self._cache_down_until = self._now() + self._retry_after


class ReasonBook:
    """The reason rules, re-read from the database at most every ``ttl`` seconds."""

    def __init__(self, ttl: float = 30.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._cache: TtlCache[str, list[ReasonRule]] = TtlCache(ttl, monotonic=monotonic)

    async def rules(self, uow: UnitOfWork) -> list[ReasonRule]:
        rules = self._cache.get("rules")
        if rules is None:
            rules = await uow.reason_rules.all()
            self._cache.put("rules", rules)
        return rules


class SenderResolver:
    """The workspace's own WhatsApp connection, or the default Eshopbox sender."""

    def __init__(self, directory: ConnectionDirectory, default_sender: SenderConnection) -> None:
        self._directory = directory
        self._default = default_sender

    @property
    def default(self) -> SenderConnection:
        return self._default

    async def for_setting(self, setting: ChannelSetting) -> SenderConnection:
        """The sender to send with; ``UpstreamRejected`` when its credentials cannot go out."""
        if setting.sender_connection_id is None or not setting.sends_from_own_account:
            return self._default
        return _usable(await self._directory.sender(setting.sender_connection_id))

    async def by_connection_id(self, connection_id: int) -> SenderConnection:
        """As ``for_setting``, by the connection's id."""
        if connection_id == DEFAULT_CONNECTION_ID:
            return self._default
        return _usable(await self._directory.sender(connection_id))

    async def app_secret(self, connection_id: int) -> str:
        """What the connection's webhooks are signed with. Only the secret: a connection whose
        token cannot be sent (``_usable``) still has the statuses and answers of what it sent
        taken (docs/webhooks.md)."""
        if connection_id == DEFAULT_CONNECTION_ID:
            return self._default.app_secret
        return (await self._directory.sender(connection_id)).app_secret


def _usable(sender: SenderConnection) -> SenderConnection:
    """The integration engine's credentials are input: an id that would change the URL's path,
    or a token with a control byte that would break the Authorization header (found by the
    directory), fails that workspace's sends with a reason, never naming the value
    (docs/meta.md#the-http-client). The configured default sender is checked at start-up."""
    if sender.unusable:
        raise UpstreamRejected(
            f"connection {sender.connection_id} has unusable credentials: "
            f"{', '.join(sender.unusable)} (each must be printable ASCII without spaces, the ids "
            "without '/', '?', '#' or '%' either)"
        )
    return sender
