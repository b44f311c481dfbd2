"""Property-based run of the portal API's own OpenAPI document (schemathesis) against the app on
MariaDB: no 5xx, and every answer as the document describes it (status, content type, body)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar import Litestar
from schemathesis import checks
from schemathesis.python.asgi import shutdown_lifespans

from composition.container import build_container
from entrypoints.http.app import create_app
from infrastructure.config import Config
from tests.support.portal import SECRET, token


def operator() -> dict[str, str]:
    """A valid operator token, made when a case runs (one made at import may have expired)."""
    return {"Authorization": f"Bearer {token('*', subject='schemathesis', secret=SECRET)}"}


# The document is the app's own; reading it touches no database, so it is loaded at import (the
# lazy ``schemathesis.pytest.from_fixture`` does not work with this pytest). The calls go to
# the app of the ``portal_app`` fixture, on MariaDB.
schema = schemathesis.openapi.from_asgi(
    "/schema/openapi.json",
    create_app(build_container(Config(auth_jwt_secret=SECRET)), run_pump=False),
).include(path_regex="^/api/v1/workspaces/")


@pytest.fixture(scope="module")
def portal_app(mysql_url: str) -> Iterator[Litestar]:
    # Meta's sandbox and the in-memory integration engine: nothing leaves the process.
    yield create_app(build_container(Config(database_url=mysql_url, auth_jwt_secret=SECRET)))
    # Schemathesis started the apps' lifespans; end them (and their database pools) now.
    shutdown_lifespans()


@schema.parametrize()
@settings(max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_the_portal_api_keeps_its_promises(
    case: schemathesis.Case[Any], portal_app: Litestar
) -> None:
    # Every check but "schema-valid data is accepted": the business rules (a chosen template is
    # verified, placeholders match variables, `from` before `to`, a cursor is one we gave out)
    # cannot be said in JSON Schema, and breaking them is a 4xx by design.
    # A case without the Authorization header is one schemathesis made invalid on purpose: it
    # goes out as it is (and must be refused); any other gets a valid operator token.
    headers = operator() if "Authorization" in (case.headers or {}) else None
    case.call_and_validate(
        headers=headers, app=portal_app, excluded_checks=[checks.positive_data_acceptance]
    )
