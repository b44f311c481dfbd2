"""``fdr-whatsapp worker``: pulls shipment events from Pub/Sub and hands each to the use case."""

from __future__ import annotations

import sys

from infrastructure.config import Config


def run_worker(config: Config) -> int:
    if not (config.pubsub_project and config.pubsub_fdr_subscription):
        print(
            "configuration error: WA_PUBSUB_FDR_SUBSCRIPTION and WA_PUBSUB_PROJECT are required "
            "for the worker",
            file=sys.stderr,
        )
        return 2
    raise NotImplementedError("the FDR intake lands with the intake issue")
