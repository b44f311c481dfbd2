"""``fdr-whatsapp sandbox ...``: play the shopper against a running demo.

An answer travels the real way: a webhook body shaped like Meta's, signed with the sandbox app
secret, POSTed to ``/webhooks/whatsapp``. What the service sends back is read from the
database and printed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
from typing import Any

import httpx

from application.content_codec import content_from_json
from domain.conversation import Conversation
from domain.messages import InteractiveMessage, MessageKind, OutgoingMessage, TemplateMessage
from domain.notification import parse_button_payload
from domain.phone import mask
from entrypoints.wiring import default_sender
from infrastructure.config import Config
from infrastructure.db.engine import create_engine
from infrastructure.db.uow import SqlUnitOfWork
from infrastructure.meta import webhook_builder as build
from infrastructure.meta.webhook import sign


def run_sandbox(config: Config, args: argparse.Namespace) -> int:
    if not config.meta_sandbox:
        print("the sandbox plays Meta for a demo; WA_META_SANDBOX is off here", file=sys.stderr)
        return 2
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
        return await _push_event(url, args.file.read_bytes())
    engine = create_engine(config.database_url, pool_size=1)
    try:
        thread = _Thread(engine, args.shipment_id)
        if args.sandbox_command == "show":
            await thread.print_all()
            return 0
        conversation, messages = await thread.load()
        seen = len(messages)
        secret = default_sender(config).app_secret
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
            await thread.print_new(seen)
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


def _latest_sent(messages: list[OutgoingMessage]) -> OutgoingMessage:
    for message in reversed(messages):
        if message.message_id:
            return message
    raise SandboxError("nothing was sent for this shipment yet")


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

    async def print_new(self, seen: int, wait: float = 5.0) -> None:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _, messages = await self.load()
            if len(messages) > seen and all(m.message_id for m in messages[seen:]):
                for message in messages[seen:]:
                    _print(message)
                return
            await asyncio.sleep(0.2)
        print("(no new message)")


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
