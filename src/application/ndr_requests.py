"""Asking logistics (the ESB) for an NDR action, once: the one path for every place a shopper
can ask from (the WhatsApp answer, the tracking page's stand-in).

The action is recorded before it is sent, unique per (conversation, kind), with everything
the ESB is sent (the date, the number, the address), and the ESB gets the idempotency key made
of the same two: a second ask, a retry after an outage or a crash between the send and the
record all carry the same key and the same request (docs/esb.md)."""

from __future__ import annotations

import dataclasses

from application.ports.clock import Clock
from application.ports.collaborators import NdrActions
from application.ports.repositories import UnitOfWork
from domain.errors import UpstreamRejected, UpstreamUnavailable
from domain.ndr import NdrAction


async def record_ask(uow: UnitOfWork, asked: NdrAction) -> NdrAction:
    """The action recorded (or the one recorded before for its conversation and kind), inside
    ``uow``'s transaction: the caller commits it before ``ask_logistics`` sends it."""
    action = await uow.ndr_actions.add(asked)
    if action is None:
        action = await uow.ndr_actions.get_for(asked.conversation_id, asked.kind)
        assert action is not None
    return action


async def ask_logistics(
    uow: UnitOfWork,
    ndr: NdrActions,
    clock: Clock,
    asked: NdrAction,
    recorded: NdrAction | None = None,
    *,
    store: bool = True,
) -> tuple[NdrAction, bool]:
    """The action as stored after asking, and whether the ESB was asked now (False: it was
    asked for before, by another request, and is what that request left). ``recorded``: what
    ``record_ask`` committed already; else it is recorded here first. Raises
    ``UpstreamUnavailable`` after recording the attempt; the same call later asks again.

    ``store=False``: the ESB's answer (done or refused, when asked now) is not stored here;
    the caller stores it (``ndr_actions.update``) in its next transaction (an answer stores it
    with the conversation's move: docs/webhooks.md). Until then a retry finds the action
    pending and asks again, with the same key: the ESB acts once."""
    action = recorded
    if action is None:
        async with uow:
            action = await record_ask(uow, asked)
            await uow.commit()
    if not action.to_do_for(asked.reply_message_id):
        return action, False
    # The ESB is asked with what was recorded (the same key, the same request): a form sent
    # again with other words carries the first address. A row recorded before the address had
    # its column (0011) has none: this request's, stored with the attempt.
    address = asked.address if action.address is None else action.address
    action = dataclasses.replace(action, address=address)
    action.attempts += 1
    try:
        reference = await ndr.perform(action)
    except UpstreamRejected as exc:
        action.refused(str(exc), clock.now())
    except UpstreamUnavailable:
        action.updated_at = clock.now()
        async with uow:
            await uow.ndr_actions.update(action)
            await uow.commit()
        raise
    else:
        action.done(reference, clock.now())
    if store:
        async with uow:
            await uow.ndr_actions.update(action)
            await uow.commit()
    return action, True
