"""One-shot maintenance commands (``fdr-whatsapp purge``), on the same container as the
long-running processes: run them from cron or a Kubernetes CronJob."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from application.use_cases.purge_webhook_bodies import PurgeWebhookBodies
from infrastructure.config import Config


def purge_webhook_bodies(config: Config, keep: timedelta) -> int:
    return asyncio.run(_purge(config, keep))


async def _purge(config: Config, keep: timedelta) -> int:
    from entrypoints.wiring import build_container

    container = build_container(config)
    try:
        async with container() as request:
            purge = await request.get(PurgeWebhookBodies)
            return await purge(keep)
    finally:
        await container.close()
