"""One-shot maintenance commands (``fdr-whatsapp purge``), on the same container as the
long-running processes: run them from cron or a Kubernetes CronJob."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from application.use_cases.purge_webhook_bodies import PurgeWebhookBodies
from infrastructure.config import Config


def purge_webhook_bodies(config: Config, keep: timedelta) -> int:
    return asyncio.run(_purge(config, keep))


async def _purge(config: Config, keep: timedelta) -> int:
    from entrypoints.wiring import build_container

    # A batch delete on a big inbox may take longer than a request's statement should; the
    # database-down bound (docs/outages.md) is for the processes that serve.
    patient = dataclasses.replace(
        config, database_timeout_seconds=max(config.database_timeout_seconds, 60.0)
    )
    container = build_container(patient)
    try:
        async with container() as request:
            purge = await request.get(PurgeWebhookBodies)
            return await purge(keep)
    finally:
        await container.close()
