"""A shopper opened the tracking link from WhatsApp: count it, send them to the portal."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from domain.activity import ActivityEvent, ActivityKind, Outcome
from domain.errors import NotConfigured, NotFound
from domain.records import LinkClick


class TrackLinkClick:
    def __init__(
        self,
        uow: UnitOfWork,
        activity: ActivityPublisher,
        clock: Clock,
        portal_tracking_url: str | None,
    ) -> None:
        self._uow = uow
        self._activity = activity
        self._clock = clock
        self._portal = portal_tracking_url

    async def __call__(self, shipment_id: int, user_agent: str = "") -> str:
        """The portal URL to redirect to; ``NotFound`` for a shipment we never wrote about."""
        now = self._clock.now()
        async with self._uow as uow:
            conversation = await uow.conversations.latest_for_shipment(shipment_id)
            if conversation is None:
                raise NotFound("shipment", shipment_id)
            page = tracking_page(self._portal, conversation.tracking_domain)
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
        return page.format(
            tracking_id=conversation.tracking_id or shipment_id,
            shipment_id=shipment_id,
            order_number=conversation.order_number,
        )


def tracking_page(portal: str | None, brand_host: str | None) -> str:
    """The tracking page template: the portal's, on the brand's host when the event named one
    (docs/outcomes.md); only the brand's host when no portal URL is configured."""
    if brand_host:
        if not portal:
            return f"https://{brand_host}/{{tracking_id}}"
        return urlunsplit(urlsplit(portal)._replace(netloc=brand_host))
    if not portal:
        raise NotConfigured("WA_PORTAL_TRACKING_URL is not set")
    return portal
