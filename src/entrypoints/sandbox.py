"""``fdr-whatsapp sandbox ...``: play the shopper against a running demo.

An answer travels the real way: a webhook body shaped like Meta's, signed with the secret the
demo made for its run (it leaves it in ``var/sandbox-<port>.secret``, readable by its owner
only, and removes it when it stops), POSTed to ``/webhooks/whatsapp``. What the service sends
back is read from the database (through the container the composition root hands it) and
printed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import httpx
from dishka import AsyncContainer

from application.content_codec import content_from_json
from application.ports.repositories import UnitOfWork
from application.ports.shipment_events import Malformed, NotFailedDelivery
from application.use_cases.notify_failed_delivery import attempt_event_key
from application.use_cases.record_poison_event import poison_event_key
from domain.activity import Outcome
from domain.conversation import Conversation
from domain.failed_delivery import FailedDelivery
from domain.messages import InteractiveMessage, MessageKind, OutgoingMessage, TemplateMessage
from domain.notification import parse_button_payload
from domain.outcomes import ShipmentEvent
from domain.records import FdrEventRecord
from entrypoints.sandbox_events import sandbox_event
from infrastructure.events.shipment_event import decode_shipment_event
from infrastructure.meta import webhook_builder as build
from infrastructure.meta.webhook import sign

#: How long ``reply`` and ``status`` wait for what the service sends back.
ANSWER_WAIT_SECONDS = 30.0


def secret_file(port: int) -> Path:
    """Where the demo on ``port`` leaves its webhook secret for the sandbox (this folder)."""
    return Path("var") / f"sandbox-{port}.secret"


def write_secret(port: int, secret: str) -> Path:
    path = secret_file(port)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # left by a demo that was killed; ours is created 0600
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secret)
    return path


def _read_secret(url: str) -> str:
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    path = secret_file(port)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise SandboxError(
            f"no demo found for {url}: start `fdr-whatsapp demo --port {port}` in this folder "
            f"(it leaves {path} for the sandbox)"
        ) from None


def run_sandbox(containers: Callable[[], AsyncContainer], args: argparse.Namespace) -> int:
    """``containers`` makes the container of the demo's database (the composition root's)."""
    try:
        return asyncio.run(_run(containers, args))
    except SandboxError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except httpx.TransportError as exc:  # nothing listens there: one line, not a traceback
        print(f"no demo answers at {args.url}: {exc or type(exc).__name__}", file=sys.stderr)
        return 1


class SandboxError(Exception):
    pass


@asynccontextmanager
async def one_transaction(container: AsyncContainer) -> AsyncIterator[UnitOfWork]:
    """One transaction on the demo's database."""
    async with container() as request:
        uow = await request.get(UnitOfWork)
        async with uow:
            yield uow


async def _run(containers: Callable[[], AsyncContainer], args: argparse.Namespace) -> int:
    url = args.url.rstrip("/")
    secret = "" if args.sandbox_command in ("show", "event") else _read_secret(url)
    container = containers()
    try:
        if args.sandbox_command == "event":
            return await _push_event(url, as_of_now(_event_bytes(args)), container)
        thread = _Thread(container, args.shipment_id)
        if args.sandbox_command == "show":
            from entrypoints.sandbox_show import print_thread  # the console's views: only here

            await print_thread(container, args.shipment_id)
            return 0
        conversation, messages = await thread.load()
        seen = len(messages)
        if args.sandbox_command == "status":
            latest = _latest_sent(messages)
            body = build.statuses_body(
                [
                    build.status(
                        latest.message_id or "", args.state, recipient=conversation.customer_phone
                    )
                ]
            )
        else:
            body = _answer(args, conversation, messages)
        await _post_webhook(url, body, secret)
        if args.sandbox_command == "status":
            print(f"reported {args.state} for the latest message")
        else:
            await thread.print_new(seen, _message_id(body))
    finally:
        await container.close()
    return 0


def _answer(
    args: argparse.Namespace, conversation: Conversation, messages: list[OutgoingMessage]
) -> bytes:
    shopper = conversation.customer_phone
    if args.text is not None:
        return build.text_message(shopper, args.text)
    if args.date is not None:
        offer = next((m for m in reversed(messages) if m.kind is MessageKind.INTERACTIVE), None)
        if offer is None:
            raise SandboxError("no dates were offered yet: reply --button choose_date first")
        offered = content_from_json(offer.payload)
        if not isinstance(offered, InteractiveMessage):
            raise SandboxError("the last offer is not a choice of dates")
        if not 1 <= args.date <= len(offered.buttons):
            raise SandboxError(f"choose a date between 1 and {len(offered.buttons)}")
        chosen = offered.buttons[args.date - 1]
        return build.interactive_tap(shopper, offer.message_id or "", chosen.id, chosen.title)
    template = next(m for m in messages if m.kind is MessageKind.TEMPLATE)
    sent = content_from_json(template.payload)
    if not isinstance(sent, TemplateMessage):
        raise SandboxError("the conversation's first message is not a template")
    buttons = {button_id(p): p for p in sent.button_payloads}
    payload = buttons.get(args.button)
    if payload is None:
        ids = ", ".join(buttons)
        raise SandboxError(f"the template has no button {args.button!r}; it has: {ids}")
    return build.button_tap(shopper, template.message_id or "", payload, args.button)


def _message_id(body: bytes) -> str:
    """The id of the shopper's message in a webhook body built by ``webhook_builder``."""
    value = json.loads(body)["entry"][0]["changes"][0]["value"]
    return str(value["messages"][0]["id"])


def _latest_sent(messages: list[OutgoingMessage]) -> OutgoingMessage:
    for message in reversed(messages):
        if message.message_id:
            return message
    raise SandboxError("nothing was sent for this shipment yet")


def as_of_now(data: bytes) -> bytes:
    """The event as if the attempt failed just now (in the WMS's India time): a saved
    event is days old, and the service does not notify attempts older than
    ``WA_FDR_STALE_AFTER_HOURS``."""
    try:
        event = json.loads(data)
        ist = datetime.now(UTC) + timedelta(hours=5, minutes=30)
        event["response_data"]["status_updated_at"] = ist.strftime("%Y-%m-%d %H:%M:%S")
    except (KeyError, TypeError, ValueError):
        return data  # not an event we can read: sent as it is, the service says why
    return json.dumps(event).encode()


def _event_bytes(args: argparse.Namespace) -> bytes:
    if args.reason:
        return sandbox_event(args.reason)
    path: Path = args.file
    try:
        return path.read_bytes()
    except OSError as exc:  # missing, a folder, not readable: one line
        raise SandboxError(f"cannot read {path}: {exc.strerror or exc}") from None


async def _push_event(url: str, data: bytes, container: AsyncContainer) -> int:
    """Pushes the event as Pub/Sub would, then says what the service made of it (read from
    ``wa_fdr_events``, as the worker recorded it)."""
    message_id = f"sandbox-{time.time_ns()}"
    decoded = decode_shipment_event(data)
    key = (
        attempt_event_key(decoded.shipment_id, decoded.status_log_id)
        if isinstance(decoded, FailedDelivery)
        else poison_event_key(message_id)
    )
    before = await _event_record(container, key)
    envelope = {
        "message": {
            "data": base64.b64encode(data).decode(),
            "messageId": message_id,
            "attributes": {},
        },
        "subscription": "projects/sandbox/subscriptions/fdr",
    }
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{url}/pubsub/push/fdr", json=envelope)
    if response.status_code == 503:
        raise SandboxError(f"not handled yet, the demo will want it again: {_detail(response)}")
    if response.status_code >= 300:
        raise SandboxError(f"the demo answered {response.status_code}: {_detail(response)}")
    if isinstance(decoded, NotFailedDelivery):
        print(f"not a failed delivery ({decoded.resource} {decoded.sub_type}): nothing to send")
        return 0
    if isinstance(decoded, ShipmentEvent):
        print(f"shipment event of {decoded.shipment_id} recorded ({decoded.kind.value})")
        return 0
    record = await _event_record(container, key)
    if isinstance(decoded, Malformed):
        print(f"malformed: {decoded.problem}")  # the field, as the service recorded it
        return 1
    if before is not None:
        print(
            f"duplicate: attempt {decoded.status_log_id} of shipment {decoded.shipment_id} "
            f"was handled before ({before.outcome.value}); nothing sent again"
        )
        return 0
    if record is None:
        raise SandboxError(
            "the demo accepted the event but recorded nothing: is it on "
            "this folder's database (WA_DATABASE_URL)?"
        )
    return await _say_outcome(container, record, decoded.shipment_id)


async def _event_record(container: AsyncContainer, key: str) -> FdrEventRecord | None:
    async with one_transaction(container) as uow:
        return await uow.fdr_events.get(key)


async def _say_outcome(container: AsyncContainer, record: FdrEventRecord, shipment: int) -> int:
    outcome = record.outcome
    if outcome is Outcome.SKIPPED:
        print(f"skipped: {record.detail}")
        return 0
    if outcome is Outcome.FAILED:
        code = f" (Meta error {record.error_code})" if record.error_code else ""
        print(f"failed{code}: {record.detail}")
        return 1
    message_id = None
    if record.conversation_id is not None:
        async with one_transaction(container) as uow:
            messages = await uow.messages.for_conversation(record.conversation_id)
        message_id = next((m.message_id for m in messages if m.kind is MessageKind.TEMPLATE), None)
    if outcome is Outcome.SENT:
        print(f"sent: message id {message_id or '(none yet)'}")
    else:
        print(f"{outcome.value}: {record.detail}")
    print(f"see it with: fdr-whatsapp sandbox show {shipment}")
    return 0


def _detail(response: httpx.Response) -> str:
    try:
        problem = response.json()
    except ValueError:
        return response.text[:200]
    return str(problem.get("detail") or problem.get("title") or "")[:200]


async def _post_webhook(url: str, body: bytes, secret: str) -> None:
    headers = {"X-Hub-Signature-256": sign(body, secret), "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{url}/webhooks/whatsapp", content=body, headers=headers)
    if response.status_code != 200:
        raise SandboxError(f"the demo answered {response.status_code}: {response.text}")


class _Thread:
    def __init__(self, container: AsyncContainer, shipment_id: int) -> None:
        self._container = container
        self._shipment = shipment_id

    async def load(self) -> tuple[Conversation, list[OutgoingMessage]]:
        async with one_transaction(self._container) as uow:
            conversation = await uow.conversations.latest_for_shipment(self._shipment)
            if conversation is None or conversation.id is None:
                raise SandboxError(f"no conversation about shipment {self._shipment}")
            return conversation, await uow.messages.for_conversation(conversation.id)

    async def print_new(self, seen: int, answer_id: str, wait: float = ANSWER_WAIT_SECONDS) -> None:
        """What the service sent back once it has handled the answer (or nothing, said so)."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            async with one_transaction(self._container) as uow:
                answer = await uow.replies.get(answer_id)
            _, messages = await self.load()
            handled = answer is not None and answer.handled_at is not None
            if handled and all(m.message_id for m in messages[seen:]):
                for message in messages[seen:]:
                    _print(message)
                if len(messages) == seen:
                    print("(no new message)")
                return
            await asyncio.sleep(0.2)
        print(f"(no answer from the demo within {wait:.0f} s)")


def button_id(payload: str) -> str:
    parsed = parse_button_payload(payload)
    return parsed.button_id if parsed else payload


def _print(message: OutgoingMessage) -> None:
    if not message.payload:
        print(f"-> (not recorded) [{message.status}]")
        return
    content = content_from_json(message.payload)
    if isinstance(content, TemplateMessage):
        buttons = [button_id(p) for p in content.button_payloads]
        print(f"-> template {content.name} [{message.status}]")
        print(f"   values:  {' | '.join(content.body_parameters)}")
        print(f"   buttons: {', '.join(buttons)}")
    elif isinstance(content, InteractiveMessage):
        print(f"-> {content.body} [{message.status}]")
        for i, button in enumerate(content.buttons, start=1):
            print(f"   {i}. {button.title}  (reply --date {i})")
    else:
        print(f"-> {content.body} [{message.status}]")
