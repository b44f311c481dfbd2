"""What every portal route shares in its OpenAPI description: the problem shapes, the ids."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, Reference, SecurityScheme
from litestar.params import Parameter

from entrypoints.http.problems import PROBLEM_JSON

#: The largest id the API takes: exact in JSON numbers everywhere (JavaScript's safe integers),
#: far beyond any row of a BIGINT column.
MAX_ID = 2**53 - 1
SECURITY_SCHEME = "portalToken"

AccountId = Annotated[
    int,
    Parameter(
        gt=0,
        le=MAX_ID,
        description="The workspace (Eshopbox account id); the token must name it (or be `*`).",
        examples=[Example(value=379)],
    ),
]
TemplateId = Annotated[
    int,
    Parameter(gt=0, le=MAX_ID, description="A `wa_templates` id.", examples=[Example(value=42)]),
]
ConversationId = Annotated[
    int,
    Parameter(gt=0, le=MAX_ID, description="A conversation id.", examples=[Example(value=1001)]),
]


class FieldError(msgspec.Struct, frozen=True):
    field: str
    message: str


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """RFC 9457 problem details, the one error shape of the API."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = None  # validation problems: one entry per field
    check: str | None = None  # a failed template verification: which check failed


_PROBLEMS: dict[int, tuple[str, Example]] = {
    400: (
        "The request is malformed (a path, query or body value of the wrong shape)",
        Example(
            summary="A query parameter out of range",
            value={
                "type": "https://fdr-whatsapp.eshopbox.dev/problems/validation",
                "title": "Invalid request",
                "status": 400,
                "detail": "Validation failed for GET /api/v1/workspaces/379/whatsapp/conversations",
                "errors": [{"field": "limit", "message": "Expected `int` <= 200"}],
            },
        ),
    ),
    401: (
        "No valid bearer token (missing, malformed, badly signed or expired)",
        Example(
            summary="Expired token",
            value={
                "type": "https://fdr-whatsapp.eshopbox.dev/problems/unauthenticated",
                "title": "Unauthorized",
                "status": 401,
                "detail": "the bearer token has expired",
            },
        ),
    ),
    403: (
        "The token does not name this workspace, or the thing is read-only",
        Example(
            summary="Another workspace",
            value={
                "type": "https://fdr-whatsapp.eshopbox.dev/problems/forbidden",
                "title": "Forbidden",
                "status": 403,
                "detail": "the token does not allow workspace 379",
            },
        ),
    ),
    404: (
        "No such thing in this workspace",
        Example(
            summary="Unknown template",
            value={
                "type": "https://fdr-whatsapp.eshopbox.dev/problems/not-found",
                "title": "Not found",
                "status": 404,
                "detail": "template 42 not found",
            },
        ),
    ),
    409: (
        "The request contradicts what is stored (a duplicate name, a template in use)",
        Example(
            summary="Template in use",
            value={
                "type": "https://fdr-whatsapp.eshopbox.dev/problems/conflict",
                "title": "Conflict",
                "status": 409,
                "detail": "template 42 is used by the workspace settings for refused; "
                "choose another template there first",
            },
        ),
    ),
    422: (
        "The values are well-formed but cannot be accepted; `errors` names each field",
        Example(
            summary="Unverified template",
            value={
                "type": "https://fdr-whatsapp.eshopbox.dev/problems/validation",
                "title": "Invalid settings",
                "status": 422,
                "detail": "templates.refused: template 42 is not verified with Meta",
                "errors": [
                    {
                        "field": "templates.refused",
                        "message": "template 42 is not verified with Meta; verify it first",
                    }
                ],
            },
        ),
    ),
    503: (
        "Portal authentication is not configured, or a dependency (database, integration "
        "engine, Meta) is unavailable; retry later",
        Example(
            summary="No authentication configured",
            value={
                "type": "https://fdr-whatsapp.eshopbox.dev/problems/not-configured",
                "title": "Not configured",
                "status": 503,
                "detail": "portal authentication is not configured",
            },
        ),
    ),
}

#: What every portal route may answer besides its success (404: a path that names nothing).
COMMON = (400, 401, 403, 404, 503)


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """The problem responses of a route: the common ones plus ``statuses``."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=_PROBLEMS[status][0],
            media_type=PROBLEM_JSON,
            examples=[_PROBLEMS[status][1]],
            generate_examples=False,
        )
        for status in sorted({*COMMON, *statuses})
    }


def success(
    data: Any, description: str, example: object, status: int = 200
) -> dict[int, ResponseSpec]:
    """The success response of a route, with an example."""
    return {
        status: ResponseSpec(
            data_container=data,
            description=description,
            examples=[Example(summary=description, value=example)],
            generate_examples=False,
        )
    }


def security_schemes() -> dict[str, SecurityScheme | Reference]:
    """The portal's bearer token, for the OpenAPI document's components."""
    return {
        SECURITY_SCHEME: SecurityScheme(
            type="http",
            scheme="bearer",
            bearer_format="JWT",
            description=(
                "A JWT signed with `WA_AUTH_JWT_SECRET` (HS256) or a key of `WA_AUTH_JWKS_URL` "
                "(RS256/ES256). Claims: `sub`, `accounts` (account ids the caller may manage; "
                '`["*"]` for Eshopbox operators), `exp`.'
            ),
        )
    }
