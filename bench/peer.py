"""The peer: pywa's webhook handling (signature check + update parsing), in process, on the same
signed bodies as the ingest run; and ours (the same two steps) beside it.

pywa is driven as its docs say for a custom server: ``webhook_update_validator`` then
``webhook_update_handler``, with a ``MessageStatus`` handler registered, and its defaults
(duplicate-update cache on, so every body is a new one). Two facts shape the comparison:

- pywa builds one ``MessageStatus`` per body, from ``statuses[0]``; the other 49 statuses of a
  batch are not surfaced. "pywa, every status" adds a raw-update handler that builds the rest
  with ``MessageStatus.from_update(status_idx=i)``, what an app would have to do.
- pywa 4.5 raises ``KeyError: 'contacts'`` on a status value without ``contacts`` (Meta's
  documented examples have none); the bench bodies carry ``contacts`` so pywa can parse them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

from pywa.client import WhatsApp
from pywa.handlers import MessageStatusHandler, RawUpdateHandler
from pywa.types.base_update import RawUpdate
from pywa.types.message_status import MessageStatus

from bench.payloads import APP_SECRET, PHONE_NUMBER_ID, WABA_ID, Seeded, Webhook, status_webhooks
from infrastructure.meta.webhook import parse_webhook, signature_is_valid


def _messages(count: int) -> list[Seeded]:
    return [Seeded(9_000_000 + i, f"wamid.PEER{i:012d}", f"9199{i:08d}") for i in range(count)]


def _client(every_status: bool, seen: list[int]) -> WhatsApp:
    wa = WhatsApp(
        phone_id=PHONE_NUMBER_ID,
        token="peer-token",  # noqa: S106 - never used: no request leaves the process
        server=None,
        verify_token="peer-verify",  # noqa: S106
        app_secret=APP_SECRET,
        waba_id=WABA_ID,
    )

    def on_status(_: WhatsApp, status: MessageStatus[Any]) -> None:
        seen[0] += 1

    wa.add_handlers(MessageStatusHandler(on_status))
    if every_status:

        def on_raw(client: WhatsApp, update: RawUpdate) -> None:
            statuses = update.value.get("statuses") or []
            for index in range(1, len(statuses)):
                MessageStatus.from_update(client=client, update=update, status_idx=index)
                seen[0] += 1

        wa.add_handlers(RawUpdateHandler(on_raw))
    return wa


def _time_pywa(hooks: Sequence[Webhook], every_status: bool) -> tuple[float, int]:
    seen = [0]
    wa = _client(every_status, seen)
    started = time.perf_counter()
    for hook in hooks:
        if wa.webhook_update_validator(hook.body, hook.signature) is not None:
            raise AssertionError("pywa refused a correctly signed body")
        wa.webhook_update_handler(hook.body)
    return time.perf_counter() - started, seen[0]


def _time_ours(hooks: Sequence[Webhook]) -> tuple[float, int]:
    seen = 0
    started = time.perf_counter()
    for hook in hooks:
        if not signature_is_valid(hook.body, hook.signature, APP_SECRET):
            raise AssertionError("a correctly signed body was refused")
        seen += len(parse_webhook(hook.body).statuses)
    return time.perf_counter() - started, seen


def _best(run: Callable[[], tuple[float, int]], repeats: int) -> tuple[float, int]:
    results = [run() for _ in range(repeats)]
    return min(results, key=lambda r: r[0])


def run_peer(updates: int = 20_000, repeats: int = 3) -> dict[str, Any]:
    messages = _messages(-(-updates // 3))
    table: list[dict[str, Any]] = []
    for per_body in (1, 50):
        hooks = list(status_webhooks(messages, per_body))
        total = sum(h.updates for h in hooks)
        rows: list[tuple[str, Callable[[], tuple[float, int]]]] = [
            ("pywa (as shipped)", functools.partial(_time_pywa, hooks, every_status=False)),
            ("pywa, every status", functools.partial(_time_pywa, hooks, every_status=True)),
            ("fdr-whatsapp parse", functools.partial(_time_ours, hooks)),
        ]
        for name, run in rows:
            seconds, surfaced = _best(run, repeats)
            table.append(
                {
                    "parser": name,
                    "per_body": per_body,
                    "bodies": len(hooks),
                    "updates_in_bodies": total,
                    "updates_surfaced": surfaced,
                    "bodies_per_s": round(len(hooks) / seconds, 1),
                    "updates_per_s": round(surfaced / seconds, 1),
                    "us_per_body": round(seconds / len(hooks) * 1e6, 1),
                }
            )
            print(
                f"  peer {name:<20} {per_body:>2}/body: {len(hooks) / seconds:>9.0f} bodies/s "
                f"{surfaced / seconds:>9.0f} updates/s surfaced"
            )
    return {"runs": table}
