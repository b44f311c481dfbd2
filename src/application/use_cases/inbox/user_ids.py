"""Statuses name a username-only shopper by user id: kept with the conversation."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from application.ports.repositories import UnitOfWork
from domain.errors import describe
from domain.webhook import StatusUpdate

_log = structlog.get_logger("webhooks")


async def remember_user_ids(uow: UnitOfWork, statuses: Sequence[StatusUpdate]) -> None:
    """Statuses name a username-only shopper by user id: kept with their conversation, so
    the shopper's answers without a number find it (docs/webhooks.md)."""
    if not statuses:
        return
    try:
        async with uow:
            ours = await uow.messages.get_many_for_statuses({s.message_id for s in statuses})
            for status in statuses:
                message = ours.get(status.message_id)
                if message is not None and status.recipient_user_id:
                    await uow.conversations.remember_user_id(
                        message.conversation_id, status.recipient_user_id
                    )
            await uow.commit()
    except Exception as exc:  # the statuses are recorded; the next status tries again
        _log.warning("shopper user ids not kept", error=describe(exc))
