"""``/track/whatsapp/{shipment_id}``: every link on WhatsApp goes through here.

With a portal configured (``WA_PORTAL_TRACKING_URL``, or the brand's tracking host) the click
is counted and the shopper redirected there. Without one, the page is a built-in stand-in of
the customer portal's tracking page: the shipment, and forms for a new address or another
phone number that ask logistics exactly as an answer on WhatsApp does (docs/console.md)."""

from __future__ import annotations

from typing import Annotated, Any

from dishka.integrations.litestar import FromDishka
from litestar import Controller, Request, Response, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template

from application.use_cases.ask_from_tracking_page import FIELDS, Asked, AskFromTrackingPage
from application.use_cases.track_link_click import TrackedLink, TrackLinkClick
from domain.errors import Forbidden, InvalidFields, NotFound, UpstreamUnavailable
from domain.ndr import NdrActionKind, NdrActionState
from domain.notification import LINK_REF
from domain.phone import mask
from entrypoints.http.console.session import check_csrf, csrf_token, with_csrf_cookie
from entrypoints.http.portal.docs import MAX_ID

PATH = "/track/whatsapp"
CSRF_COOKIE = "fdr_track_csrf"
_Ref = Annotated[str | None, QueryParameter(name=LINK_REF, max_length=64)]
_Shipment = Annotated[str, PathParameter(max_length=20)]
_KINDS = {field: kind for kind, field in FIELDS.items()}


def _shipment(value: str) -> int:
    """Any path that is not one of our shipment ids is an unknown shipment, on an HTML page."""
    if not value.isdigit() or not 0 < int(value) <= MAX_ID:
        raise NotFound("shipment", value[:20])
    return int(value)


def _missing(request: Request[Any, Any, Any], _: NotFound) -> Response[Any]:
    return Template("track-missing.html.j2", status_code=404)


class TrackingController(Controller):
    path = PATH
    tags = ["shopper"]  # noqa: RUF012

    @get(
        "/{shipment_id:str}",
        summary="Record the click; redirect to the portal's tracking page, or show the stand-in",
        description=(
            "302 to the customer portal when `WA_PORTAL_TRACKING_URL` (or the brand's tracking "
            "host) is set; otherwise the built-in tracking page (HTML), which needs the link's "
            f"`{LINK_REF}` reference. An unknown shipment or a wrong reference is a 404 HTML page."
        ),
        exception_handlers={NotFound: _missing},
    )
    async def track(
        self,
        shipment_id: _Shipment,
        request: Request[Any, Any, Any],
        track: FromDishka[TrackLinkClick],
        ref: _Ref = None,
    ) -> Response[Any]:
        tracked = await track(_shipment(shipment_id), request.headers.get("user-agent", ""), ref)
        if tracked.url is not None:
            return Redirect(tracked.url, status_code=302)
        page = _page(request, tracked, ref or "")
        return with_csrf_cookie(request, page, CSRF_COOKIE, PATH)

    @post(
        "/{shipment_id:str}",
        status_code=200,
        summary="The stand-in's forms: a new address or another phone number",
        description="Asks logistics (the ESB) as the WhatsApp answer would; HTML in and out.",
        exception_handlers={NotFound: _missing},
    )
    async def ask(
        self,
        shipment_id: _Shipment,
        request: Request[Any, Any, Any],
        track: FromDishka[TrackLinkClick],
        ask: FromDishka[AskFromTrackingPage],
    ) -> Response[Any]:
        form = await request.form()
        ref = str(form.get(LINK_REF, ""))[:64]
        shipment = _shipment(shipment_id)
        tracked = await track(shipment, ref=ref, click=False)
        try:
            check_csrf(request, str(form.get("csrf", "")), CSRF_COOKIE)
        except Forbidden as exc:
            return _page(request, tracked, ref, errors={"form": str(exc)}, status=403)
        field = str(form.get("field", ""))
        kind = _KINDS.get(field)
        if kind is None:
            return _page(
                request, tracked, ref, errors={"form": "choose what to change"}, status=400
            )
        value = str(form.get(field, ""))[:1000]
        try:
            asked = await ask(shipment, ref, kind, value)
        except InvalidFields as exc:
            return _page(request, tracked, ref, errors=exc.errors, typed={field: value}, status=400)
        except UpstreamUnavailable:
            return _page(
                request,
                tracked,
                ref,
                errors={field: "we could not reach the courier just now: please try again"},
                typed={field: value},
                status=503,
            )
        return _page(request, tracked, ref, asked=asked)


def _page(
    request: Request[Any, Any, Any],
    tracked: TrackedLink,
    ref: str,
    *,
    asked: Asked | None = None,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    status: int = 200,
) -> Template:
    actions = list(tracked.actions)
    if asked is not None:
        actions = [a for a in actions if a.kind is not asked.action.kind] + [asked.action]
    taken = next((a for a in actions if a.state is not NdrActionState.FAILED), None)
    refused = {a.kind for a in actions if a.state is NdrActionState.FAILED}
    offered = [] if taken else [f for k, f in FIELDS.items() if k not in refused]
    c = tracked.conversation
    return Template(
        "track.html.j2",
        context={
            "c": c,
            "phone": mask(c.customer_phone),
            "ref": ref,
            "ref_name": LINK_REF,
            "csrf": csrf_token(request, CSRF_COOKIE),
            "taken": taken,
            "just_now": asked is not None and asked.now,
            "refused": [a for a in actions if a.state is NdrActionState.FAILED],
            "offered": offered,
            "errors": errors or {},
            "typed": typed or {},
            "kinds": NdrActionKind,
        },
        status_code=status,
    )
