"""``/conversations``: what was sent to shoppers, what they answered and what was done."""

from __future__ import annotations

from typing import Annotated

from dishka.integrations.litestar import FromDishka
from litestar import Controller, get
from litestar.openapi.spec import Example
from litestar.params import Parameter, QueryParameter

from application.ports.repositories import ConversationQuery
from application.use_cases.portal.get_conversation_thread import GetConversationThread
from application.use_cases.portal.list_conversations import ListConversations
from domain.conversation import ConversationState
from domain.reasons import FdrReason
from entrypoints.http.portal.conversation_views import (
    SUMMARY_EXAMPLE,
    THREAD_EXAMPLE,
    ConversationDetail,
    ConversationPage,
    detail,
    listed,
)
from entrypoints.http.portal.cursor import decode_cursor, encode_cursor
from entrypoints.http.portal.docs import MAX_ID, AccountId, ConversationId, problems, success
from entrypoints.http.portal.hooks import QUERY
from entrypoints.http.portal.period import check_order, moment

_Id = Annotated[
    int | None,
    QueryParameter(name="shipmentId", gt=0, le=MAX_ID, description="Only this shipment."),
]
_Reason = Annotated[FdrReason | None, Parameter(description="Only this reason.")]
_Status = Annotated[
    ConversationState | None,
    Parameter(
        description=(
            "Only conversations in this state. `needs_person`: the ESB refused what the "
            "shopper asked for and someone of the workspace should get in touch."
        )
    ),
]
_From = Annotated[
    str | None,
    QueryParameter(
        name="from",
        format="date-time",
        max_length=64,
        description="Created at or after (ISO 8601; no offset means UTC).",
        examples=[Example(value="2026-11-01T00:00:00Z")],
    ),
]
_To = Annotated[
    str | None,
    QueryParameter(
        name="to",
        format="date-time",
        max_length=64,
        description="Created before (ISO 8601; no offset means UTC).",
    ),
]
_Limit = Annotated[int, Parameter(ge=1, le=200, description="Page size.")]
_Cursor = Annotated[
    str | None,
    Parameter(max_length=64, description="`nextCursor` of the previous page."),
]


class ConversationsController(Controller):
    path = "/conversations"
    tags = ["portal: conversations"]  # noqa: RUF012

    @get(
        opt={QUERY: ("shipmentId", "reason", "status", "from", "to", "limit", "cursor")},
        summary="The workspace's conversations, newest first",
        description=(
            "One conversation per failed delivery attempt that reached the sending stage. "
            "Filters combine; pages follow `nextCursor`. Shoppers' numbers are masked."
        ),
        responses={
            **success(
                ConversationPage,
                "A page of conversations",
                {"items": [SUMMARY_EXAMPLE], "nextCursor": "YmVmb3JlOjEwMDE"},
            ),
            **problems(),
        },
    )
    async def list_conversations(
        self,
        account_id: AccountId,
        conversations: FromDishka[ListConversations],
        shipment_id: _Id = None,
        reason: _Reason = None,
        status: _Status = None,
        created_from: _From = None,
        created_to: _To = None,
        limit: _Limit = 50,
        cursor: _Cursor = None,
    ) -> ConversationPage:
        start = moment(created_from, "from")
        end = moment(created_to, "to")
        check_order(start, end)
        page = await conversations(
            ConversationQuery(
                account_id=account_id,
                shipment_id=shipment_id,
                reason=reason,
                state=status,
                created_from=start,
                created_to=end,
                before_id=None if cursor is None else decode_cursor(cursor),
                limit=limit,
            )
        )
        return ConversationPage(
            items=[listed(i) for i in page.items],
            next_cursor=None if page.next_before_id is None else encode_cursor(page.next_before_id),
        )

    @get(
        "/{conversation_id:int}",
        summary="One conversation with its whole thread",
        description=(
            "The thread in time order: each message we sent (`message`: the template, then "
            "follow-ups, with status and error), each status tick Meta reported (`status`), "
            "each answer of the shopper (`answer`), each NDR action and its result (`action`) "
            "and each tracking-link click (`click`). Another workspace's conversation is 404."
        ),
        responses={
            **success(
                ConversationDetail,
                "The conversation",
                {"conversation": SUMMARY_EXAMPLE, "thread": THREAD_EXAMPLE},
            ),
            **problems(404),
        },
    )
    async def get_conversation(
        self,
        account_id: AccountId,
        conversation_id: ConversationId,
        thread: FromDishka[GetConversationThread],
    ) -> ConversationDetail:
        return detail(await thread(account_id, conversation_id))
