"""What every portal request goes through before its handler: ``OPTIONS`` answered in full, and
query parameters the route does not know refused (a misspelt filter must not silently list
everything)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import ValidationException
from litestar.status_codes import HTTP_204_NO_CONTENT

#: ``opt`` key of a route handler: the query parameters it takes.
QUERY = "query"


async def before_portal_request(request: Request[Any, Any, Any]) -> Response[None] | None:
    if request.method == "OPTIONS":
        return _options(request)
    known = request.route_handler.opt.get(QUERY, ())
    unknown = sorted(k for k in request.query_params if k not in known)
    if unknown:
        raise ValidationException(
            f"unknown query parameter {unknown[0]!r}",
            extra=[{"key": k, "message": "unknown query parameter"} for k in unknown],
        )
    return None


def _options(request: Request[Any, Any, Any]) -> Response[None] | None:
    """Litestar 2.25 builds its automatic answer from the first handler registered on a path,
    so ``Allow`` misses the others (``/settings`` would say ``GET, OPTIONS``)."""
    template = request.scope.get("path_template")
    for route in request.app.routes:
        if route.path_format == template:
            allowed = ", ".join(sorted(route.methods))
            return Response(None, status_code=HTTP_204_NO_CONTENT, headers={"Allow": allowed})
    return None
