"""A shopper opened the tracking link from WhatsApp: count it, send them to the portal (or,
with no portal configured, to the built-in stand-in of its tracking page).

Rules: only a shipment we wrote about, with its conversation's reference, is answered (else not
found, no hint that it exists); each opening from the link is counted and told to the
timeline (best effort); a page reached after its own form was sent counts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from domain.activity import ActivityEvent, ActivityKind, Outcome
from domain.conversation import Conversation
from domain.errors import NotFound
from domain.ndr import NdrAction
from domain.notification import link_ref_matches
from domain.records import LinkClick


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackedLink:
    """Where the link leads: the portal's page (``url``), or, when ``url`` is None, the
    stand-in showing ``conversation`` and the actions already asked of logistics."""

    url: str | None
    conversation: Conversation
    actions: tuple[NdrAction, ...] = ()


class TrackLinkClick:
    def __init__(
        self,
        uow: UnitOfWork,
        activity: ActivityPublisher,
        clock: Clock,
        portal_tracking_url: str | None,
        *,
        follow_brand_host: bool = True,
    ) -> None:
        self._uow = uow
        self._activity = activity
        self._clock = clock
        self._portal = portal_tracking_url
        self._follow_brand_host = follow_brand_host

    async def __call__(
        self, shipment_id: int, user_agent: str = "", ref: str | None = None, *, click: bool = True
    ) -> TrackedLink:
        """``NotFound`` for a shipment we never wrote about, a reference that is not the
        conversation's, and a stand-in page asked for without one (links of old messages carry
        none: they still lead to the portal). ``click=False``: the page is shown again (after
        its form was sent), not opened from the link: nothing is counted."""
        now = self._clock.now()
        async with self._uow as uow:
            conversation = await uow.conversations.latest_for_shipment(shipment_id)
            if conversation is None or conversation.id is None:
                raise NotFound("shipment", shipment_id)
            if ref is not None and not link_ref_matches(conversation, ref):
                raise NotFound("shipment", shipment_id)  # no hint that the shipment exists
            brand_host = conversation.tracking_domain if self._follow_brand_host else None
            page = tracking_page(self._portal, brand_host)
            if page is None and ref is None:
                raise NotFound("shipment", shipment_id)
            actions = await uow.ndr_actions.for_conversation(conversation.id)
            if not click:
                return TrackedLink(url=None, conversation=conversation, actions=tuple(actions))
            await uow.link_clicks.add(
                LinkClick(
                    shipment_id=shipment_id,
                    conversation_id=conversation.id,
                    user_agent=user_agent[:512],
                    clicked_at=now,
                )
            )
            await uow.commit()
        # Best effort (NeverFailingActivityPublisher): the shopper gets their page regardless.
        await self._activity.publish(
            ActivityEvent(
                account_id=conversation.account_id,
                shipment_id=shipment_id,
                reason=conversation.reason.value,
                outcome=Outcome.LINK_CLICKED,
                kind=ActivityKind.CLICK,
                conversation_id=conversation.id,
                occurred_at=now,
            )
        )
        url = None
        if page is not None:
            url = page.format(
                tracking_id=conversation.tracking_id or shipment_id,
                shipment_id=shipment_id,
                order_number=conversation.order_number,
            )
        return TrackedLink(url=url, conversation=conversation, actions=tuple(actions))


def tracking_page(portal: str | None, brand_host: str | None) -> str | None:
    """The tracking page template: the portal's, on the brand's host when the event named one
    (docs/outcomes.md); only the brand's host when no portal URL is configured; ``None``
    without either (the built-in stand-in, docs/console.md)."""
    if brand_host:
        if not portal:
            return f"https://{brand_host}/{{tracking_id}}"
        return urlunsplit(urlsplit(portal)._replace(netloc=brand_host))
    return portal
