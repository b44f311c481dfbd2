"""``GET /track/whatsapp/{shipment_id}``: every link on WhatsApp goes through here."""

from __future__ import annotations

from typing import Any

from dishka.integrations.litestar import FromDishka
from litestar import Controller, Request, get
from litestar.params import FromPath
from litestar.response import Redirect

from application.use_cases.track_link_click import TrackLinkClick


class TrackingController(Controller):
    path = "/track/whatsapp"
    tags = ["shopper"]  # noqa: RUF012

    @get(
        "/{shipment_id:int}",
        status_code=302,
        summary="Record the click and redirect to the portal's tracking page",
        description="404 for a shipment we never wrote to the shopper about.",
    )
    async def track(
        self,
        shipment_id: FromPath[int],
        request: Request[Any, Any, Any],
        track: FromDishka[TrackLinkClick],
    ) -> Redirect:
        url = await track(shipment_id, request.headers.get("user-agent", ""))
        return Redirect(url, status_code=302)
