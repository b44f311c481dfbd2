"""``fdr-whatsapp sandbox show``: a conversation as the console shows it, as text. Imported by
that command only: the console's views come with the web app's modules."""

from __future__ import annotations

from dishka import AsyncContainer

from application.use_cases.portal.show_conversation import ShowConversation
from domain.messages import MessageKind
from entrypoints.http.console.timeline import Row, timeline
from entrypoints.http.portal.conversation_views import (
    ThreadAction,
    ThreadAnswer,
    ThreadClick,
    ThreadMessage,
    ThreadStatus,
)
from entrypoints.sandbox import SandboxError, button_id, one_transaction


async def print_thread(container: AsyncContainer, shipment_id: int) -> None:
    """The whole conversation as the console shows it (docs/console.md), as text: each message
    as the shopper read it with its ticks, the shopper's answers, the actions sent to the ESB
    with its answer, link clicks; the shopper's numbers masked."""
    async with one_transaction(container) as uow:
        conversation = await uow.conversations.latest_for_shipment(shipment_id)
    if conversation is None or conversation.id is None:
        raise SandboxError(f"no conversation about shipment {shipment_id}")
    async with container() as request:
        show = await request.get(ShowConversation)
        shown = timeline(await show(conversation.account_id, conversation.id))
    c = shown["conversation"]
    print(
        f"shipment {shipment_id}: {c.reason.value} to {c.customer_phone} "
        f"[{c.status.value}] (conversation {c.id}, workspace {conversation.account_id})"
    )
    for row in shown["rows"]:
        for line in row_lines(row):
            print(line)


def row_lines(row: Row) -> list[str]:
    item = row.item
    at = item.at.strftime("%H:%M:%S")
    if isinstance(item, ThreadMessage):
        what = "template" if item.kind is MessageKind.TEMPLATE else "follow-up"
        text = row.shown.text if row.shown else "(not recorded)"
        lines = [f"{at} -> {what} [{item.status.value}]"]
        lines += [f"     {line}" for line in text.splitlines() or [""]]
        if row.shown and row.shown.buttons:
            titles = row.shown.buttons
            ids = [button_id(r) for r in row.shown.replies] if row.shown.replies else []
            if item.kind is MessageKind.TEMPLATE and len(ids) == len(titles):
                named = [f"{t} ({i})" for t, i in zip(titles, ids, strict=True)]
                lines.append(f"     buttons: {', '.join(named)}")
            else:
                lines += [f"     {n}. {t}  (reply --date {n})" for n, t in enumerate(titles, 1)]
        lines += [
            f"     {t.status.value} {t.at.strftime('%H:%M:%S')}"
            + (f" error {t.error_code}: {t.error_title or ''}" if t.error_code else "")
            for t in row.ticks
        ]
        if item.error_code:
            lines.append(f"     Meta error {item.error_code}: {item.error_title or ''}")
        return lines
    if isinstance(item, ThreadAnswer):
        verb = "tapped" if item.answer_type in ("button", "interactive") else "wrote"
        return [f"{at} <- the shopper {verb}: {item.value}"]
    if isinstance(item, ThreadAction):
        asked = item.action.value
        if item.delivery_date:
            asked += f" on {item.delivery_date}"
        if item.phone:
            asked += f" to {item.phone}"
        if item.address:
            asked += f' to "{item.address}"'
        answer = item.result or "nothing yet"
        return [
            f"{at} => ESB {asked}: {item.state.value}, ESB answered: {answer} "
            f"({item.attempts} attempt{'' if item.attempts == 1 else 's'})"
        ]
    if isinstance(item, ThreadClick):
        return [f"{at} the shopper opened the tracking link ({item.source})"]
    if isinstance(item, ThreadStatus):
        return [f"{at} status {item.status.value} of {item.message_id}"]
    return []
