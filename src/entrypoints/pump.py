"""``fdr-whatsapp pump``: the webhook pump in a process of its own.

``serve`` with ``WA_WEBHOOK_PUMP=off`` only stores and answers Meta's POSTs; this process
processes the stored bodies, looking for new ones every ``WA_WEBHOOK_POLL_SECONDS``. Any
number of pumps (and ``serve`` processes with the pump inline) share the bodies: each pass
claims what it takes (docs/webhooks.md, "The pump in a process of its own").
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from dishka import AsyncContainer

from entrypoints.background import WebhookPump
from entrypoints.metrics_server import run_with_metrics, stop_on_signals
from infrastructure.config import Config

_log = structlog.get_logger("pump")

#: How long a stopping pump lets its pass finish (Kubernetes gives 30 s before SIGKILL);
#: a pass cut short leaves its bodies to be taken again once their claim has passed.
STOP_GRACE_SECONDS = 20.0


def run_pump(config: Config, containers: Callable[[], AsyncContainer]) -> int:
    """The pump process until SIGTERM or SIGINT; ``containers`` makes its container."""
    return run_with_metrics(
        "pump",
        config.pump_metrics_port,
        lambda: _main(config, containers),
        required=config.pump_metrics_port_required,
        variable="WA_PUMP_METRICS_PORT",
        label=config.meta_label(),
    )


async def _main(config: Config, containers: Callable[[], AsyncContainer]) -> int:
    container = containers()
    stop = stop_on_signals()
    pump = WebhookPump(container, poll_seconds=config.webhook_poll_seconds)
    try:
        pump.start()
        _log.info(
            "pump started",
            poll_seconds=config.webhook_poll_seconds,
            metrics_port=config.pump_metrics_port,
        )
        await stop.wait()
        await pump.stop(grace=STOP_GRACE_SECONDS)
    finally:
        await container.close()
    _log.info("pump stopped")
    return 0
