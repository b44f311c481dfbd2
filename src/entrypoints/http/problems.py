"""Every error as RFC 9457 problem JSON, mapped in one place."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ExceptionHandlersMap

from domain.errors import (
    Conflict,
    Forbidden,
    InvalidFields,
    InvalidSignature,
    NotConfigured,
    NotFound,
    TemplateNotVerified,
    Unauthenticated,
    UnreadableRecord,
    UpstreamRejected,
    UpstreamUnavailable,
    describe,
)
from infrastructure.logging import FailureLog

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://fdr-whatsapp.eshopbox.dev/problems/"
_log = structlog.get_logger("http")


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    type_: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": _TYPE_BASE + type_ if type_ else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException):
        errors = [
            {"field": e.get("key") or e.get("source") or "body", "message": e.get("message", "")}
            for e in (exc.extra if isinstance(exc.extra, list) else [])
            if isinstance(e, dict)
        ]
        return problem(
            exc.status_code,
            "Invalid request",
            str(exc.detail),
            type_="validation",
            errors=errors,
        )
    title = {
        400: "Bad request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not found",
        405: "Method not allowed",
        413: "Request body too large",
    }
    return problem(
        exc.status_code,
        title.get(exc.status_code, "Request failed"),
        str(exc.detail) if exc.detail else None,
        headers=exc.headers,
    )


def _not_found(request: Request[Any, Any, Any], exc: NotFound) -> Response[Any]:
    return problem(HTTP_404_NOT_FOUND, "Not found", str(exc), type_="not-found")


def _conflict(request: Request[Any, Any, Any], exc: Conflict) -> Response[Any]:
    return problem(HTTP_409_CONFLICT, "Conflict", str(exc), type_="conflict")


def _invalid_fields(request: Request[Any, Any, Any], exc: InvalidFields) -> Response[Any]:
    errors = [{"field": k, "message": v} for k, v in exc.errors.items()]
    return problem(
        HTTP_422_UNPROCESSABLE_ENTITY,
        exc.title,
        str(exc),
        type_="validation",
        errors=errors,
    )


def _upstream_rejected(request: Request[Any, Any, Any], exc: UpstreamRejected) -> Response[Any]:
    return problem(HTTP_422_UNPROCESSABLE_ENTITY, "Rejected upstream", str(exc), type_="upstream")


class _Unavailable:
    """The 503 of a dependency that is unavailable, logged once per kind and minute with its
    cause and how many more 503s it stands for (``FailureLog``; docs/outages.md). One per app."""

    def __init__(self) -> None:
        self._failures = FailureLog(_log, interval=60.0, expected=(UpstreamUnavailable,))

    def __call__(self, request: Request[Any, Any, Any], exc: UpstreamUnavailable) -> Response[Any]:
        cause = describe(exc.__cause__) if exc.__cause__ is not None else None
        self._failures.failed(
            "answered 503: a dependency is unavailable", exc, path=request.url.path, cause=cause
        )
        return problem(
            HTTP_503_SERVICE_UNAVAILABLE,
            "Service unavailable",
            "a dependency is unavailable; retry later",
            type_="unavailable",
            headers={"Retry-After": "5"},
        )


def _invalid_signature(request: Request[Any, Any, Any], exc: InvalidSignature) -> Response[Any]:
    return problem(401, "Unauthorized", str(exc), type_="signature")


def _not_configured(request: Request[Any, Any, Any], exc: NotConfigured) -> Response[Any]:
    _log.error("request refused: not configured", path=request.url.path, detail=str(exc))
    return problem(HTTP_503_SERVICE_UNAVAILABLE, "Not configured", str(exc), type_="not-configured")


def _unauthenticated(request: Request[Any, Any, Any], exc: Unauthenticated) -> Response[Any]:
    return problem(
        401,
        "Unauthorized",
        str(exc),
        type_="unauthenticated",
        headers={"WWW-Authenticate": 'Bearer realm="fdr-whatsapp"'},
    )


def _forbidden(request: Request[Any, Any, Any], exc: Forbidden) -> Response[Any]:
    return problem(403, "Forbidden", str(exc), type_="forbidden")


def _not_verified(request: Request[Any, Any, Any], exc: TemplateNotVerified) -> Response[Any]:
    return problem(
        HTTP_422_UNPROCESSABLE_ENTITY,
        "Template not verified",
        exc.detail,
        type_="template-verification",
        check=exc.check,
    )


def _unreadable(request: Request[Any, Any, Any], exc: UnreadableRecord) -> Response[Any]:
    # Not the caller's doing and not a bug of ours: a row another writer left (a zero date);
    # logged with the request's path for the operator who mends it (docs/outages.md, "A row
    # with a zero date").
    _log.error("stored row cannot be read", path=request.url.path, error=describe(exc))
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "Stored record cannot be read",
        "A row this answer needs holds a value none of our writes leave (a zero date): an"
        " operator must mend it (the service's log says where).",
        type_="unreadable-record",
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    _log.exception("unhandled error", path=request.url.path, error=type(exc).__name__)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "Internal error", type_="internal")


def exception_handlers() -> ExceptionHandlersMap:
    return {
        HTTPException: _http_exception,
        NotFound: _not_found,
        Conflict: _conflict,
        InvalidFields: _invalid_fields,
        UpstreamRejected: _upstream_rejected,
        UpstreamUnavailable: _Unavailable(),
        InvalidSignature: _invalid_signature,
        NotConfigured: _not_configured,
        Unauthenticated: _unauthenticated,
        Forbidden: _forbidden,
        TemplateNotVerified: _not_verified,
        UnreadableRecord: _unreadable,
        Exception: _unexpected,
    }


__all__ = ["PROBLEM_JSON", "MediaType", "exception_handlers", "problem"]
