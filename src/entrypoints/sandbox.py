"""``fdr-whatsapp sandbox ...``: play the shopper against a running demo.

An answer travels the real way: a webhook body shaped like Meta's, signed with the secret the
demo made for its run (it leaves it in ``var/sandbox-<port>.secret``, readable by its owner
only, and removes it when it stops), POSTed to ``/webhooks/whatsapp``. What the service sends
back is read from the database and printed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from application.content_codec import content_from_json
from domain.conversation import Conversation
from domain.messages import InteractiveMessage, MessageKind, OutgoingMessage, TemplateMessage
from domain.notification import parse_button_payload
from domain.phone import mask
from infrastructure.config import Config
from infrastructure.db.engine import create_engine
from infrastructure.db.uow import SqlUnitOfWork
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


def run_sandbox(config: Config, args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(config, args))
    except SandboxError as exc:
        print(str(exc), file=sys.stderr)
        return 1


class SandboxError(Exception):
    pass


async def _run(config: Config, args: argparse.Namespace) -> int:
    url = args.url.rstrip("/")
    if args.sandbox_command == "event":
        return await _push_event(url, as_of_now(args.file.read_bytes()))
    secret = "" if args.sandbox_command == "show" else _read_secret(url)
    engine = create_engine(config.database_url, pool_size=1)
    try:
        thread = _Thread(engine, args.shipment_id)
        if args.sandbox_command == "show":
            await thread.print_all()
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
        await engine.dispose()
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
    buttons = {_button_id(p): p for p in sent.button_payloads}
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


async def _push_event(url: str, data: bytes) -> int:
    envelope = {
        "message": {
            "data": base64.b64encode(data).decode(),
            "messageId": f"sandbox-{time.time_ns()}",
            "attributes": {},
        },
        "subscription": "projects/sandbox/subscriptions/fdr",
    }
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{url}/pubsub/push/fdr", json=envelope)
    if response.status_code >= 300:
        raise SandboxError(f"the demo answered {response.status_code}: {response.text}")
    try:
        shipment = json.loads(data)["response_data"]["id"]
    except (KeyError, TypeError, ValueError):
        shipment = None
    print(f"event accepted ({response.status_code})")
    if shipment is not None:
        print(f"see it with: fdr-whatsapp sandbox show {shipment}")
    return 0


async def _post_webhook(url: str, body: bytes, secret: str) -> None:
    headers = {"X-Hub-Signature-256": sign(body, secret), "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{url}/webhooks/whatsapp", content=body, headers=headers)
    if response.status_code != 200:
        raise SandboxError(f"the demo answered {response.status_code}: {response.text}")


class _Thread:
    def __init__(self, engine: Any, shipment_id: int) -> None:
        self._engine = engine
        self._shipment = shipment_id

    async def load(self) -> tuple[Conversation, list[OutgoingMessage]]:
        async with SqlUnitOfWork(self._engine) as uow:
            conversation = await uow.conversations.latest_for_shipment(self._shipment)
            if conversation is None or conversation.id is None:
                raise SandboxError(f"no conversation about shipment {self._shipment}")
            return conversation, await uow.messages.for_conversation(conversation.id)

    async def print_all(self) -> None:
        conversation, messages = await self.load()
        shopper = mask(conversation.customer_phone)
        print(
            f"shipment {self._shipment}: {conversation.reason} to {shopper} [{conversation.state}]"
        )
        for message in messages:
            _print(message)

    async def print_new(self, seen: int, answer_id: str, wait: float = ANSWER_WAIT_SECONDS) -> None:
        """What the service sent back once it has handled the answer (or nothing, said so)."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            async with SqlUnitOfWork(self._engine) as uow:
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


def _button_id(payload: str) -> str:
    parsed = parse_button_payload(payload)
    return parsed.button_id if parsed else payload


def _print(message: OutgoingMessage) -> None:
    if not message.payload:
        print(f"-> (not recorded) [{message.status}]")
        return
    content = content_from_json(message.payload)
    if isinstance(content, TemplateMessage):
        buttons = [_button_id(p) for p in content.button_payloads]
        print(f"-> template {content.name} [{message.status}]")
        print(f"   values:  {' | '.join(content.body_parameters)}")
        print(f"   buttons: {', '.join(buttons)}")
    elif isinstance(content, InteractiveMessage):
        print(f"-> {content.body} [{message.status}]")
        for i, button in enumerate(content.buttons, start=1):
            print(f"   {i}. {button.title}  (reply --date {i})")
    else:
        print(f"-> {content.body} [{message.status}]")
