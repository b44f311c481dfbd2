"""A local Graph API for tests: a real HTTP server that checks every send against Meta's own
OpenAPI schema (adjusted as docs/meta.md#metas-openapi-schema says) and pages template lists
as the Graph API does."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import functools
import itertools
import json
import re
import socket
import uuid
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from domain.templates import placeholder_count

SPEC_PATH = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "meta-openapi"
    / "business-messaging-api_v23.0.yaml"
)
_SPEC_URI = "urn:meta:business-messaging-api:v23.0"
_SCHEMAS = f"{_SPEC_URI}#/components/schemas/"
# The spec's button-index pattern is a broken character class that refuses "0" (docs/meta.md#sends).
_BROKEN_INDEX_PATTERN = "^[2-6, 11-14]$"
_VERSION = re.compile(r"^v\d+\.\d+$")

#: Meta's wording for the codes tests usually inject (docs/meta.md#errors); others get a
#: generic one.
ERROR_MESSAGES: Mapping[int, str] = {
    1: "An unknown error occurred",
    2: "Service temporarily unavailable",
    4: "(#4) Application request limit reached",
    80007: "(#80007) Rate limit issues",
    100: "(#100) Invalid parameter",
    130429: "(#130429) Rate limit hit",
    131000: "(#131000) Something went wrong",
    131016: "(#131016) Service unavailable",
    131026: "(#131026) Message undeliverable",
    131047: "(#131047) Re-engagement message",
    131056: "(#131056) (Business Account, Consumer Account) pair rate limit hit",
    131057: "(#131057) Account in maintenance mode",
    132000: "(#132000) Number of parameters does not match the expected number of params",
    132001: "(#132001) Template name does not exist in the translation",
    133004: "(#133004) Server temporarily unavailable",
    190: "Invalid OAuth access token - Cannot parse access token",
}


# --- Meta's schema ---------------------------------------------------------------------------


def adjust_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec made usable as a strict send validator, on a copy
    (docs/meta.md#metas-openapi-schema)."""
    spec = copy.deepcopy(spec)
    # (1) A non-standard key that is no schema at all.
    spec["components"].pop("parameterGroups", None)
    # (2) additionalProperties inside an allOf branch cannot see the other branches' fields,
    # so the envelope (to, messaging_product, ...) would be refused.
    _move_additional_properties(spec)
    schemas = spec["components"]["schemas"]
    # (3) Meta's own examples leave out language.policy.
    schemas["LanguageObject"]["required"].remove("policy")
    # Ours: Meta documents biz_opaque_callback_data for sends (≤512), the spec only for calls.
    schemas["BaseMessageProperties"]["properties"]["biz_opaque_callback_data"] = {
        "type": "string",
        "maxLength": 512,
    }
    # Ours: docs/meta.md#sends says not to validate with the broken index pattern; with it, every
    # first quick-reply button ("0") would be refused.
    _drop_broken_index_pattern(spec)
    return spec


def _move_additional_properties(node: object) -> None:
    if isinstance(node, dict):
        branches = node.get("allOf")
        if isinstance(branches, list):
            closed = [
                b
                for b in branches
                if isinstance(b, dict) and b.get("additionalProperties") is False
            ]
            for branch in closed:
                del branch["additionalProperties"]
            if closed:
                node["unevaluatedProperties"] = False
        for value in node.values():
            _move_additional_properties(value)
    elif isinstance(node, list):
        for value in node:
            _move_additional_properties(value)


def _drop_broken_index_pattern(node: object) -> None:
    if isinstance(node, dict):
        if node.get("pattern") == _BROKEN_INDEX_PATTERN:
            del node["pattern"]
        for value in node.values():
            _drop_broken_index_pattern(value)
    elif isinstance(node, list):
        for value in node:
            _drop_broken_index_pattern(value)


@dataclass(frozen=True, slots=True)
class _SendSchema:
    message: Draft202012Validator
    by_type: Mapping[str, Draft202012Validator]  # the discriminator's branch: clearer messages


@functools.cache
def _send_schema() -> _SendSchema:
    """Loaded once per process: parsing the 1 MB spec takes a noticeable fraction of a second."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open("rb") as f:
        spec = adjust_spec(yaml.load(f, Loader=loader))  # noqa: S506 (a safe loader)
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, DRAFT202012.create_resource(spec))

    def validator(name: str) -> Draft202012Validator:
        return Draft202012Validator({"$ref": _SCHEMAS + name}, registry=registry)

    mapping: dict[str, str] = spec["components"]["schemas"]["Message"]["discriminator"]["mapping"]
    return _SendSchema(
        message=validator("Message"),
        by_type={kind: validator(ref.rsplit("/", 1)[-1]) for kind, ref in mapping.items()},
    )


def send_schema_error(body: object) -> str | None:
    """Why Meta's schema refuses ``body`` as a send, or None when it is valid."""
    schema = _send_schema()
    error = best_match(schema.message.iter_errors(body))
    if error is None:
        return None
    kind = body.get("type") if isinstance(body, dict) else None
    branch = schema.by_type.get(kind) if isinstance(kind, str) else None
    # "not valid under any of the given schemas" says little; the branch for its type says why.
    detail = best_match(branch.iter_errors(body)) if branch is not None else None
    chosen = detail or error
    return f"{chosen.message[:300]} at {chosen.json_path}"


# --- records and faults ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedSend:
    """A send the fake accepted (or took and then did not answer: see ``drop_next``)."""

    phone_number_id: str
    body: dict[str, Any]
    headers: Mapping[str, str]
    received_at: datetime
    message_id: str


@dataclass(frozen=True, slots=True)
class RejectedSend:
    phone_number_id: str
    body: object
    details: str


@dataclass(frozen=True, slots=True)
class _Fail:
    code: int
    http_status: int
    message: str


@dataclass(frozen=True, slots=True)
class _Delay:
    seconds: float


@dataclass(frozen=True, slots=True)
class _Drop:
    pass


_Fault = _Fail | _Delay | _Drop


@dataclass(slots=True)
class _Queued:
    fault: _Fault
    remaining: int


@dataclass(slots=True)
class _Account:
    tokens: set[str] = field(default_factory=set)


def graph_error(
    code: int, message: str | None = None, details: str | None = None
) -> dict[str, Any]:
    """A Graph API error body (docs/meta.md#errors)."""
    text = message or ERROR_MESSAGES.get(code) or f"(#{code}) Error"
    return {
        "error": {
            "message": text,
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details or text},
            "fbtrace_id": uuid.uuid4().hex[:23],
        }
    }


def closed_port_url() -> str:
    """A local URL nothing listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- the server ------------------------------------------------------------------------------


class FakeGraphApi:
    """The two Graph API routes the service uses, on 127.0.0.1 and a free port.

    Auth, faults, schema, in that order, as Meta checks the token before anything else.
    Faults apply to the next requests of either route, oldest first.
    """

    def __init__(self) -> None:
        self.requests: list[RecordedSend] = []  # accepted sends
        self.rejected: list[RejectedSend] = []  # sends refused by the schema
        self.send_attempts = 0  # every POST to /messages that got past auth, whatever its fate
        self.list_calls: Counter[str] = Counter()  # template-list requests per WABA
        self._numbers: dict[str, _Account] = {}
        self._wabas: dict[str, _Account] = {}
        self._templates: dict[str, list[dict[str, Any]]] = {}
        self.created_templates: list[dict[str, Any]] = []  # creation requests, as received
        self._faults: deque[_Queued] = deque()
        self._faults_to: dict[str, deque[_Queued]] = {}  # recipient ("+91...") -> its faults
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._port = 0

    # lifecycle

    async def start(self) -> None:
        # Meta's schema is parsed now, not inside the first send: that would hold the loop the
        # service under test shares for over half a second, mid-test.
        await asyncio.to_thread(_send_schema)
        app = web.Application()
        app.router.add_post("/{version}/{phone_number_id}/messages", self._send)
        app.router.add_get("/{version}/{waba_id}/message_templates", self._list_templates)
        app.router.add_post("/{version}/{waba_id}/message_templates", self._create_template)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        self._closing.set()  # delayed answers finish now instead of holding the shutdown
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeGraphApi:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # set-up

    def add_sender(self, *, phone_number_id: str, waba_id: str, token: str) -> None:
        """Lets ``token`` send from the number and list the WABA's templates."""
        self._numbers.setdefault(phone_number_id, _Account()).tokens.add(token)
        self._wabas.setdefault(waba_id, _Account()).tokens.add(token)

    def add_template(
        self,
        waba_id: str,
        name: str,
        language: str,
        status: str,
        body_text: str,
        quick_replies: tuple[str, ...] = (),
        category: str = "UTILITY",
    ) -> str:
        """A template in Meta's read model (uppercase component types,
        docs/meta.md#template-list); its id."""
        template_id = str(1_000_000_000_000 + next(self._ids))
        body: dict[str, Any] = {"type": "BODY", "text": body_text}
        count = placeholder_count(body_text)
        if count:
            body["example"] = {"body_text": [[f"example {i}" for i in range(1, count + 1)]]}
        components: list[dict[str, Any]] = [body]
        if quick_replies:
            buttons = [{"type": "QUICK_REPLY", "text": t} for t in quick_replies]
            components.append({"type": "BUTTONS", "buttons": buttons})
        self._templates.setdefault(waba_id, []).append(
            {
                "name": name,
                "parameter_format": "POSITIONAL",
                "components": components,
                "language": language,
                "status": status,
                "category": category,
                "id": template_id,
            }
        )
        return template_id

    def review_created(self, waba_id: str, status: str = "APPROVED") -> int:
        """Meta's review of every template created through the API and still PENDING."""
        reviewed = 0
        for template in self._templates.get(waba_id, []):
            if template.get("created_by_api") and template["status"] == "PENDING":
                template["status"] = status
                reviewed += 1
        return reviewed

    def set_template_status(self, waba_id: str, template_id: str, status: str) -> None:
        """Meta changed a template's status (paused, disabled, approved again...)."""
        for template in self._templates.get(waba_id, []):
            if template["id"] == template_id:
                template["status"] = status
                return
        raise KeyError(template_id)

    # faults

    def fail_next(
        self, code: int, *, http_status: int = 400, times: int = 1, message: str | None = None
    ) -> None:
        """The next ``times`` requests get a Graph error with ``code`` (any code of
        docs/meta.md#errors)."""
        text = message or ERROR_MESSAGES.get(code) or f"(#{code}) Error"
        self._faults.append(_Queued(_Fail(code, http_status, text), times))

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` requests are handled normally but answered ``seconds`` late.

        A send is taken (recorded) before the wait, so a client that times out has still sent
        it: exactly what makes a timeout an unknown outcome.
        """
        self._faults.append(_Queued(_Delay(seconds), times))

    def drop_next(self, *, times: int = 1) -> None:
        """The next ``times`` requests are read, then the connection is closed unanswered.

        A dropped send counts as accepted and is recorded in ``requests``, like a real
        connection lost after Meta took the message.
        """
        self._faults.append(_Queued(_Drop(), times))

    def fail_sends_to(self, to: str, code: int, *, http_status: int = 400, times: int = 1) -> None:
        """The next ``times`` sends to ``to`` (e.g. "+917891971009") get a Graph error with
        ``code``, whatever else is sent meanwhile."""
        text = ERROR_MESSAGES.get(code) or f"(#{code}) Error"
        queued = _Queued(_Fail(code, http_status, text), times)
        self._faults_to.setdefault(to, deque()).append(queued)

    def delay_sends_to(self, to: str, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` sends to ``to`` are taken, then answered ``seconds`` late."""
        self._faults_to.setdefault(to, deque()).append(_Queued(_Delay(seconds), times))

    def _next_fault(self, raw: bytes = b"") -> _Fault | None:
        faults = self._faults
        if self._faults_to:
            with contextlib.suppress(ValueError, AttributeError):
                faults = self._faults_to.get(str(json.loads(raw).get("to")), faults) or faults
        if not faults:
            return None
        head = faults[0]
        head.remaining -= 1
        if head.remaining <= 0:
            faults.popleft()
        return head.fault

    # routes

    async def _send(self, request: web.Request) -> web.StreamResponse:
        arrived = datetime.now(UTC)  # when Meta has it: before any checking of ours
        number = request.match_info["phone_number_id"]
        refused = _check_version(request) or self._check_token(request, self._numbers.get(number))
        if refused is not None:
            return refused
        raw = await request.read()
        self.send_attempts += 1
        fault = self._next_fault(raw)
        if isinstance(fault, _Fail):
            return _error(fault.http_status, fault.code, fault.message)
        try:
            body = json.loads(raw)
        except ValueError:
            self.rejected.append(RejectedSend(number, raw.decode(errors="replace"), "not JSON"))
            return _error(400, 100, details="The request body is not JSON")
        problem = send_schema_error(body)
        if problem is not None:
            self.rejected.append(RejectedSend(number, body, problem))
            return _error(400, 100, details=problem)
        message_id = self._new_wamid()
        self.requests.append(RecordedSend(number, body, dict(request.headers), arrived, message_id))
        if isinstance(fault, _Drop):
            return _drop(request)
        if isinstance(fault, _Delay):
            await self._wait(fault.seconds)
        accepted: dict[str, Any] = {"id": message_id}
        if body["type"] == "template":  # Meta reports message_status for templates only
            accepted["message_status"] = "accepted"
        to: str = body["to"]
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": re.sub(r"\D", "", to)}],
                "messages": [accepted],
            }
        )

    async def _list_templates(self, request: web.Request) -> web.StreamResponse:
        waba_id = request.match_info["waba_id"]
        refused = _check_version(request) or self._check_token(request, self._wabas.get(waba_id))
        if refused is not None:
            return refused
        self.list_calls[waba_id] += 1
        fault = self._next_fault()
        if isinstance(fault, _Fail):
            return _error(fault.http_status, fault.code, fault.message)
        if isinstance(fault, _Drop):
            return _drop(request)
        if isinstance(fault, _Delay):
            await self._wait(fault.seconds)
        query = request.query
        templates = [
            t
            for t in self._templates.get(waba_id, [])
            if query.get("name", t["name"]) == t["name"]
            and query.get("status", t["status"]).upper() == t["status"]
        ]
        try:
            limit = max(1, min(int(query.get("limit", "25")), 1000))
            start = _cursor_position(query["after"]) + 1 if "after" in query else 0
        except ValueError:
            return _error(400, 100, details="Invalid limit or cursor")
        page = templates[start : start + limit]
        fields = [f for f in query.get("fields", "").split(",") if f]
        answer: dict[str, Any] = {
            "data": [
                {k: v for k, v in t.items() if not fields or k in fields or k == "id"} for t in page
            ]
        }
        if page:
            last = start + len(page) - 1
            paging: dict[str, Any] = {"cursors": {"before": _cursor(start), "after": _cursor(last)}}
            if last + 1 < len(templates):
                paging["next"] = str(request.url.update_query(after=_cursor(last)))
            answer["paging"] = paging
        return web.json_response(answer)

    async def _create_template(self, request: web.Request) -> web.StreamResponse:
        """Meta's template creation: the request checked as Meta documents it, a name taken
        once per language, the new template PENDING review."""
        waba_id = request.match_info["waba_id"]
        refused = _check_version(request) or self._check_token(request, self._wabas.get(waba_id))
        if refused is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return _error(400, 100, details="The request body is not JSON")
        problem = template_creation_error(body)
        if problem is not None:
            return _error(400, 100, details=problem)
        self.created_templates.append(body)
        for existing in self._templates.get(waba_id, []):
            if (existing["name"], existing["language"]) == (body["name"], body["language"]):
                answer = graph_error(
                    100, "Invalid parameter", "Content in this language already exists"
                )
                answer["error"]["error_subcode"] = DUPLICATE_SUBCODE
                return web.json_response(answer, status=400)
        template_id = str(1_000_000_000_000 + next(self._ids))
        components = [{**c, "type": str(c["type"]).upper()} for c in body["components"]]
        self._templates.setdefault(waba_id, []).append(
            {
                "name": body["name"],
                "parameter_format": "POSITIONAL",
                "components": components,
                "language": body["language"],
                "status": "PENDING",
                "category": body["category"],
                "id": template_id,
                "created_by_api": True,
            }
        )
        return web.json_response(
            {"id": template_id, "status": "PENDING", "category": body["category"]}
        )

    # helpers

    def _check_token(self, request: web.Request, account: _Account | None) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        if account is None or token not in account.tokens:
            return _error(401, 190)
        return None

    def _new_wamid(self) -> str:
        unique = f"FAKE.{next(self._ids)}.{uuid.uuid4().hex}".encode()
        return "wamid." + base64.b64encode(unique).decode()

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)


def _check_version(request: web.Request) -> web.Response | None:
    if _VERSION.match(request.match_info["version"]):
        return None
    return _error(400, 100, details="Unknown path components")


def _error(
    http_status: int, code: int, message: str | None = None, *, details: str | None = None
) -> web.Response:
    return web.json_response(graph_error(code, message, details), status=http_status)


def _drop(request: web.Request) -> web.Response:
    # Closing the socket under aiohttp: the response returned below is never written.
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=200)


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"position:{position}".encode()).decode()


def _cursor_position(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("bad cursor") from exc
    prefix, _, number = text.partition(":")
    if prefix != "position":
        raise ValueError("bad cursor")
    return int(number)


#: Meta's answer when a template name already exists in that language.
DUPLICATE_SUBCODE = 2388024
_TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")


def template_creation_error(body: object) -> str | None:
    """Why Meta would refuse ``body`` as a template creation (its documented rules), or None:
    a lower-case name, a language, a category, exactly one BODY of at most 1,024 characters
    whose ``{{1}}``..``{{n}}`` each have an example value, at most 10 quick replies of at most
    25 characters."""
    if not isinstance(body, dict):
        return "the body is not an object"
    if not isinstance(body.get("name"), str) or not _TEMPLATE_NAME.fullmatch(body["name"]):
        return "name must be lower case letters, digits and underscores"
    if not isinstance(body.get("language"), str) or not body["language"]:
        return "language is required"
    if body.get("category") not in ("UTILITY", "MARKETING", "AUTHENTICATION"):
        return "category must be UTILITY, MARKETING or AUTHENTICATION"
    components = body.get("components")
    if not isinstance(components, list):
        return "components is required"
    bodies = [c for c in components if isinstance(c, dict) and str(c.get("type")).upper() == "BODY"]
    if len(bodies) != 1 or not isinstance(bodies[0].get("text"), str):
        return "exactly one BODY component with text is required"
    text = bodies[0]["text"]
    if len(text) > 1024:
        return "the body is longer than 1024 characters"
    count = placeholder_count(text)
    if count:
        examples = (bodies[0].get("example") or {}).get("body_text")
        if not (isinstance(examples, list) and examples and len(examples[0]) == count):
            return f"the body has {count} variables: example.body_text needs {count} values"
    for component in components:
        if isinstance(component, dict) and str(component.get("type")).upper() == "BUTTONS":
            buttons = component.get("buttons") or []
            if len(buttons) > 10:
                return "at most 10 buttons"
            for button in buttons:
                if (
                    button.get("type") == "QUICK_REPLY"
                    and not 0 < len(button.get("text", "")) <= 25
                ):
                    return "a quick reply's text is 1 to 25 characters"
    return None
