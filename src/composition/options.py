"""The options every use case reads, from the configuration: one function, for the service's
container and the sandbox's."""

from __future__ import annotations

from application.services import NotificationOptions
from infrastructure.config import Config
from infrastructure.i18n import load_catalogs


def notification_options(config: Config) -> NotificationOptions:
    return NotificationOptions(
        default_account_id=config.default_account_id,
        tracking_base_url=config.public_base_url,
        support_phone=config.support_phone,
        support_email=config.support_email,
        phone_region=config.default_phone_region,
        stale_after_seconds=config.fdr_stale_after_hours * 3600,
        unknown_recheck_seconds=config.unknown_send_recheck_seconds,
        catalogs=load_catalogs(),
        quiet_hours=config.quiet_hours,
    )
