"""One-shot maintenance commands (``fdr-whatsapp purge``, ``fdr-whatsapp webhooks``), on the
same container as the long-running processes: run them from cron or a Kubernetes CronJob.

Each takes ``containers``, which makes a container (the composition root's); each run opens one
and closes it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TypeVar

from dishka import AsyncContainer

from application.use_cases.process_webhooks import ProcessWebhooks
from application.use_cases.purge_finished_jobs import PurgeFinishedJobs
from application.use_cases.purge_webhook_bodies import PurgeWebhookBodies
from application.use_cases.templates_at_meta import (
    PushTemplatesToMeta,
    ShowTemplatesAtMeta,
    TemplateAtMeta,
)
from application.use_cases.webhook_bodies import (
    RequeueWebhookBodies,
    ShowWebhookBody,
    WebhookFate,
)
from domain.errors import DomainError, NotFound
from infrastructure.logging import mask_phones

T = TypeVar("T")
Containers = Callable[[], AsyncContainer]


def purge(containers: Containers, keep: timedelta) -> tuple[int, int]:
    """Deletes what is older than ``keep``: processed webhook bodies, then finished scheduled
    jobs; how many of each."""

    async def work(container: AsyncContainer) -> tuple[int, int]:
        async with container() as request:
            bodies = await (await request.get(PurgeWebhookBodies))(keep)
        async with container() as request:
            jobs = await (await request.get(PurgeFinishedJobs))(keep)
        return bodies, jobs

    return _run(containers, work)


def show_webhook_body(containers: Containers, delivery_id: int, *, with_body: bool) -> int:
    async def show(container: AsyncContainer) -> WebhookFate:
        async with container() as request:
            return await (await request.get(ShowWebhookBody))(delivery_id)

    try:
        fate = _run(containers, show)
    except NotFound as exc:
        print(str(exc))
        return 1
    print(describe_fate(fate))
    if with_body:
        print(mask_phones(fate.delivery.body.decode("utf-8", errors="replace")))
    return 0


def describe_fate(fate: WebhookFate) -> str:
    d = fate.delivery
    lines = [
        f"body {d.id}: {fate.state}",
        f"  connection: {'default' if d.connection_id is None else d.connection_id}, "
        f"{len(d.body)} bytes, received {d.received_at.isoformat()}",
    ]
    if d.processed_at is not None:
        lines.append(f"  processed: {d.processed_at.isoformat()}")
    if d.error:
        lines.append(f"  error: {d.error}")
    if d.processed_at is None and d.attempts:
        due = d.retry_at.isoformat() if d.retry_at else "now"
        lines.append(f"  attempts: {d.attempts}, next try {due}")
    for p in fate.problems:
        code = f" (code {p.code})" if p.code is not None else ""
        lines.append(f"  {p.kind}{code} at {p.element}: {p.detail}")
    return mask_phones("\n".join(lines))


def retry_webhook_bodies(containers: Containers, ids: Sequence[int], *, with_errors: bool) -> int:
    async def retry(container: AsyncContainer) -> int:
        async with container() as request:
            found = await (await request.get(RequeueWebhookBodies))(ids, with_errors=with_errors)
        # Processed here and now (a running serve's pump would take them at its next sweep).
        while True:
            async with container() as request:
                batch = await (await request.get(ProcessWebhooks))(limit=500)
            if not batch.more_may_wait:
                break
        return found

    found = _run(containers, retry)
    missing = "" if with_errors or found == len(set(ids)) else " (some ids do not exist)"
    print(f"re-processed {found} webhook bodies{missing}")
    for delivery_id in ids:
        show_webhook_body(containers, delivery_id, with_body=False)
    return 0 if not missing else 1


def templates_at_meta(containers: Containers, account_id: int, *, push: bool) -> int:
    async def work(container: AsyncContainer) -> list[TemplateAtMeta]:
        async with container() as request:
            if push:
                return await (await request.get(PushTemplatesToMeta))(account_id)
            return await (await request.get(ShowTemplatesAtMeta))(account_id)

    try:
        results = _run(containers, work)
    except DomainError as exc:
        print(f"templates of account {account_id}: {exc}")
        return 1
    if not results:
        print(f"account {account_id} has no templates")
    for r in results:
        status = f" [{r.status}]" if r.status else ""
        detail = f": {r.detail}" if r.detail else ""
        print(f"{r.outcome:8} {r.name} ({r.language}){status}{detail}")
    return 1 if any(r.outcome in ("refused", "missing") for r in results) else 0


def _run(containers: Containers, work: Callable[[AsyncContainer], Awaitable[T]]) -> T:
    async def run() -> T:
        container = containers()
        try:
            return await work(container)
        finally:
            await container.close()

    return asyncio.run(run())
