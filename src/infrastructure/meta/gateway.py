"""Meta's Cloud API over httpx: sending messages, and listing a business account's templates."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import msgspec
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from application.ports.whatsapp import TemplateCatalog
from application.ttl_cache import TtlCache
from domain.errors import (
    PermanentSendError,
    RetryableSendError,
    SendOutcomeUnknown,
    UpstreamRejected,
    UpstreamUnavailable,
)
from domain.messages import Content, SendReceipt
from domain.settings import SenderConnection
from domain.templates import MetaTemplate, placeholder_count
from infrastructure.http_retry import Sleep
from infrastructure.meta.errors import classify
from infrastructure.meta.payloads import send_body

_log = structlog.get_logger("meta")
_encoder = msgspec.json.Encoder()

# The request never reached Meta: sending it again cannot make a duplicate.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class _Contact(msgspec.Struct, frozen=True):
    wa_id: str | None = None


class _Accepted(msgspec.Struct, frozen=True):
    id: str
    message_status: str | None = None


class _SendAnswer(msgspec.Struct, frozen=True):
    messages: list[_Accepted]
    contacts: list[_Contact] = msgspec.field(default_factory=list)


_send_answer = msgspec.json.Decoder(_SendAnswer)


class MetaCloudWhatsApp:
    """``WhatsAppGateway`` on ``POST /{version}/{phone-number-id}/messages``.

    Each send is one ``httpx.Request`` handed to the transport (``Http11Transport`` in the
    service): none of the client's cookies, auth, redirects or default headers are wanted on a
    send, and building them cost more than the request itself (docs/meta.md#the-http-client).

    Retries only what cannot duplicate a message: Meta's "not now" codes and connections that
    never opened. A timeout or a connection lost after the request left is ``SendOutcomeUnknown``
    at once, since Meta has no idempotency key (docs/meta.md#no-idempotency-key).
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        *,
        timeout: httpx.Timeout,
        graph_url: str,
        api_version: str,
        max_attempts: int = 4,
        max_delay: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 4.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._transport = transport
        self._extensions = {"timeout": timeout.as_dict()}
        self._base = f"{graph_url.rstrip('/')}/{api_version}"
        self._urls: dict[str, httpx.URL] = {}  # per phone number id, parsed once
        self._max_attempts = max_attempts
        self._max_delay = max_delay
        self._backoff = wait_exponential_jitter(
            multiplier=backoff_initial, max=backoff_max, jitter=backoff_initial
        )
        self._sleep = sleep

    async def send(
        self,
        sender: SenderConnection,
        to: str,
        content: Content,
        *,
        client_ref: str,
        context_message_id: str | None = None,
    ) -> SendReceipt:
        body = _encoder.encode(
            send_body(to, content, client_ref=client_ref, context_message_id=context_message_id)
        )
        url = self._urls.get(sender.phone_number_id)
        if url is None:
            url = httpx.URL(f"{self._base}/{sender.phone_number_id}/messages")
            self._urls[sender.phone_number_id] = url
        # The first attempt without tenacity (setting up its retry state cost more CPU than
        # the request: BENCHMARKS.md, "Stop 16: fan-out"); a refusal for now goes on through
        # ``_retrying`` as its first attempt, from the time it began, as if tried there.
        began = time.monotonic()
        try:
            return await self._post(url, body, sender, earlier_failures=0)
        except RetryableSendError as exc:
            first: RetryableSendError | None = exc
        async for attempt in self._retrying():
            with attempt:
                if first is not None:
                    attempt.retry_state.start_time = began
                    error, first = first, None
                    raise error
                return await self._post(
                    url, body, sender, earlier_failures=attempt.retry_state.attempt_number - 1
                )
        raise AssertionError("tenacity either returns or raises")  # pragma: no cover

    async def _post(
        self, url: httpx.URL, body: bytes, sender: SenderConnection, *, earlier_failures: int
    ) -> SendReceipt:
        request = httpx.Request(
            "POST",
            url,
            headers=[
                (b"Authorization", f"Bearer {sender.access_token}".encode()),
                (b"Content-Type", b"application/json"),
            ],
            content=body,
            extensions=self._extensions,
        )
        try:
            response = await self._transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        except _NOT_SENT as exc:
            raise RetryableSendError(None, f"Graph API unreachable ({type(exc).__name__})") from exc
        except httpx.LocalProtocolError as exc:
            # Refused by the transport before a byte left (the sender's token holds a control
            # byte, which no header may): Meta has nothing, and asking again changes nothing
            # (docs/meta.md#the-http-client).
            raise PermanentSendError(None, f"the request was not sent: {exc}") from exc
        except httpx.TransportError as exc:
            raise SendOutcomeUnknown(
                None, f"no answer from the Graph API ({type(exc).__name__}); Meta may have it"
            ) from exc
        if not response.is_success:
            raise classify(
                response.status_code,
                response.content,
                attempt=earlier_failures,
                secrets=(sender.access_token,),
            )
        try:
            answer = _send_answer.decode(response.content)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise SendOutcomeUnknown(None, "Graph API accepted without a readable answer") from exc
        if not answer.messages:
            raise SendOutcomeUnknown(None, "Graph API accepted without a message id")
        accepted = answer.messages[0]
        return SendReceipt(
            message_id=accepted.id,
            wa_id=answer.contacts[0].wa_id if answer.contacts else None,
            message_status=accepted.message_status,
        )

    def _retrying(self) -> AsyncRetrying:
        """The one retry policy of the Meta adapter: jittered backoff within a time budget."""
        return AsyncRetrying(
            retry=retry_if_exception_type(RetryableSendError),
            wait=self._wait,
            stop=self._stop,
            sleep=self._sleep,
            before_sleep=_log_retry,
            reraise=True,
        )

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetryableSendError) and error.retry_after is not None:
            return error.retry_after
        return float(self._backoff(state))

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self._max_attempts:
            return True
        # idle_for counts the sleeps even when a test's sleep returns at once, so the time
        # budget holds the same way in tests as with the real clock.
        spent = max(state.seconds_since_start or 0.0, state.idle_for)
        return spent + (state.upcoming_sleep or 0.0) >= self._max_delay


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    _log.warning(
        "meta_send_retry",
        attempt=state.attempt_number,
        code=getattr(error, "code", None),
        sleep=round(state.upcoming_sleep, 3),
    )


# --- templates -------------------------------------------------------------------------------

_FIELDS = "name,status,category,language,components,parameter_format,id"


class _Button(msgspec.Struct, frozen=True):
    type: str
    text: str = ""


class _Component(msgspec.Struct, frozen=True):
    type: str
    text: str = ""
    buttons: list[_Button] = msgspec.field(default_factory=list)


class _Template(msgspec.Struct, frozen=True):
    id: str | int
    name: str
    language: str
    status: str
    category: str = ""
    components: list[_Component] = msgspec.field(default_factory=list)


class _Cursors(msgspec.Struct, frozen=True):
    after: str | None = None


class _Paging(msgspec.Struct, frozen=True):
    cursors: _Cursors | None = None
    next: str | None = None


class _TemplatePage(msgspec.Struct, frozen=True):
    data: list[_Template] = msgspec.field(default_factory=list)
    paging: _Paging | None = None


_template_page = msgspec.json.Decoder(_TemplatePage)


class MetaTemplateCatalog:
    """``TemplateCatalog`` on ``GET /{version}/{waba-id}/message_templates``, every page.

    Pages are asked for with the ``after`` cursor on our own URL rather than by following
    ``paging.next`` verbatim, so the token only ever goes to the configured Graph URL.
    ``paging.next`` missing marks the last page, as in every Graph API list.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        graph_url: str,
        api_version: str,
        page_size: int = 100,
        max_pages: int = 100,
    ) -> None:
        self._client = client
        self._base = f"{graph_url.rstrip('/')}/{api_version}"
        self._page_size = page_size
        self._max_pages = max_pages

    async def templates(self, sender: SenderConnection) -> list[MetaTemplate]:
        url = f"{self._base}/{sender.waba_id}/message_templates"
        params = {"fields": _FIELDS, "limit": str(self._page_size)}
        found: list[MetaTemplate] = []
        for _ in range(self._max_pages):
            page = await self._page(url, params, sender.access_token)
            found.extend(_meta_template(t) for t in page.data)
            paging = page.paging
            after = paging.cursors.after if paging and paging.cursors else None
            if paging is None or not paging.next or not after or after == params.get("after"):
                return found
            params = {**params, "after": after}
        raise UpstreamUnavailable(
            f"Graph API template list did not end after {self._max_pages} pages"
        )

    def invalidate(self, waba_id: str) -> None:
        """Nothing is remembered here: every call asks Meta (``CachedTemplateCatalog``
        remembers)."""

    async def _page(self, url: str, params: dict[str, str], token: str) -> _TemplatePage:
        try:
            response = await self._client.get(
                url, params=params, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(
                f"Graph API template list unreachable ({type(exc).__name__})"
            ) from exc
        if not response.is_success:
            error = classify(response.status_code, response.content, secrets=(token,))
            text = f"Graph API refused the template list: {error}"
            # Rate limits and Meta's downtime pass; a bad token or WABA id does not.
            if isinstance(error, RetryableSendError):
                raise UpstreamUnavailable(text)
            raise UpstreamRejected(text)
        try:
            return _template_page.decode(response.content)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamUnavailable("Graph API template list answer is unreadable") from exc


def _meta_template(template: _Template) -> MetaTemplate:
    body = next((c.text for c in template.components if c.type.upper() == "BODY"), "")
    quick_replies = tuple(
        b.text
        for c in template.components
        if c.type.upper() == "BUTTONS"
        for b in c.buttons
        if b.type.upper() == "QUICK_REPLY"
    )
    return MetaTemplate(
        id=str(template.id),
        name=template.name,
        language=template.language,
        status=template.status,
        category=template.category,
        body=body,
        body_parameter_count=placeholder_count(body),
        quick_replies=quick_replies,
    )


class CachedTemplateCatalog:
    """Any ``TemplateCatalog``, remembered per WABA for ``ttl_seconds``.

    Meta allows about 200 template-list calls per hour per WABA; the
    ``message_template_status_update`` webhook calls ``invalidate`` so a change shows at once
    (in the process that receives it; other processes within the TTL).
    """

    def __init__(
        self,
        inner: TemplateCatalog,
        *,
        ttl_seconds: float = 600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._cache: TtlCache[str, list[MetaTemplate]] = TtlCache(ttl_seconds, monotonic=monotonic)
        self._locks: dict[str, asyncio.Lock] = {}

    async def templates(self, sender: SenderConnection) -> list[MetaTemplate]:
        waba_id = sender.waba_id
        cached = self._cache.get(waba_id)
        if cached is not None:
            return list(cached)
        # One list call per WABA at a time: concurrent readers wait for it instead of each
        # spending Meta's hourly allowance.
        async with self._locks.setdefault(waba_id, asyncio.Lock()):
            cached = self._cache.get(waba_id)
            if cached is None:
                generation = self._cache.generation(waba_id)
                cached = await self._inner.templates(sender)
                # Not kept if invalidate() ran during the call: it may predate the change.
                self._cache.put(waba_id, cached, generation)
        return list(cached)

    def invalidate(self, waba_id: str) -> None:
        self._cache.invalidate(waba_id)
