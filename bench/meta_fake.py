"""A lean Graph API for the bench, run as its own process: answers every send after a fixed delay.

Unlike ``tests/fakes/meta.py`` it does not validate sends against Meta's OpenAPI schema (that
check costs milliseconds of CPU per send, which would be charged to the service on a 2-core
box). It records when each send arrived and which shipment it was for (from the tracking link
the FDR templates carry), and serves that record at ``GET /_bench/sends``.

    python -m bench.meta_fake --port 8123 --delay 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import time

import msgspec
from aiohttp import web

_SHIPMENT = re.compile(rb"/track/whatsapp/(\d+)")
_TO = re.compile(rb'"to":"([^"]+)"')


class SendLog(msgspec.Struct, frozen=True):
    """Wall-clock arrival time of each send (time.time()) and its shipment (0 if none)."""

    times: list[float]
    shipments: list[int]


class _Fake:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.times: list[float] = []
        self.shipments: list[int] = []
        self._ids = itertools.count(1)

    async def send(self, request: web.Request) -> web.Response:
        raw = await request.read()
        arrived = time.time()
        shipment = _SHIPMENT.search(raw)
        self.times.append(arrived)
        self.shipments.append(int(shipment.group(1)) if shipment else 0)
        to = _TO.search(raw)
        recipient = to.group(1).decode() if to else ""
        wamid = f"wamid.BENCH{next(self._ids):012d}"
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        answer = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": recipient, "wa_id": recipient.lstrip("+")}],
            "messages": [{"id": wamid, "message_status": "accepted"}],
        }
        return web.Response(body=msgspec.json.encode(answer), content_type="application/json")

    async def sends(self, _: web.Request) -> web.Response:
        log = SendLog(times=self.times, shipments=self.shipments)
        return web.Response(body=msgspec.json.encode(log), content_type="application/json")

    async def reset(self, _: web.Request) -> web.Response:
        self.times, self.shipments = [], []
        return web.Response(text="ok")


def build_app(delay: float) -> web.Application:
    fake = _Fake(delay)
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post("/{version}/{phone_number_id}/messages", fake.send)
    app.router.add_get("/_bench/sends", fake.sends)
    app.router.add_post("/_bench/reset", fake.reset)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.05)
    args = parser.parse_args()
    web.run_app(
        build_app(args.delay),
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
        shutdown_timeout=1.0,
    )


if __name__ == "__main__":
    main()
