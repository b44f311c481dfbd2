"""Configuration: one typed value read once at start-up from the environment (and ``.env``).

A wrong or missing value stops start-up with one line naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import time
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from dotenv import dotenv_values

from domain.outcomes import ShipmentEventKind, event_name
from domain.phone import DEFAULT_REGION, mobile_example
from domain.quiet_hours import DEFAULT_QUIET_HOURS, QuietHours, check_zone, parse_clock
from infrastructure.request_values import fits_a_header, fits_a_path

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/fdr-whatsapp.db"
DEFAULT_META_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_META_API_VERSION = "v23.0"
GOOGLE_OIDC_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
META_THROUGHPUT_MAX = 1000
#: Where ``fdr-whatsapp worker`` serves Prometheus metrics (OpenTelemetry's Prometheus port).
DEFAULT_WORKER_METRICS_PORT: int | None = 9464
#: Where ``fdr-whatsapp pump`` serves them.
DEFAULT_PUMP_METRICS_PORT: int | None = 9465


#: Sending to Meta needs all four; the sandbox none of them.
META_CREDENTIALS = (
    "WA_META_APP_SECRET",
    "WA_META_PHONE_NUMBER_ID",
    "WA_META_WABA_ID",
    "WA_META_ACCESS_TOKEN",
)


class ConfigError(Exception):
    """One bad setting (or several missing together); ``str()`` is the single line printed at
    start-up, naming them."""

    def __init__(self, variable: str, problem: str, *, also: Sequence[str] = ()) -> None:
        super().__init__(f"configuration error: {' and '.join([variable, *also])} {problem}")
        self.variable = variable


ALL = ("serve", "worker", "pump")
SERVE = ("serve",)
WORKER = ("worker",)
PUMP = ("pump",)
#: ``WA_WEBHOOK_PUMP``: ``serve`` processes the stored webhooks itself, or only stores them
#: (docs/webhooks.md, "The pump in a process of its own").
PUMP_MODES = ("inline", "off")


def _env(
    name: str,
    about: str,
    used_by: tuple[str, ...] = ALL,
    *,
    default: object = None,
    secret: bool = False,
    shown: str | None = None,
    factory: Callable[[], object] | None = None,
    also: tuple[tuple[str, str, str], ...] = (),
) -> Any:
    """A setting read from the environment variable ``name``: what it is for and which
    processes read it; ``--help`` lists them from here (``variables``)."""
    # ``also``: (name, default, about) of more variables read into the same field.
    metadata = {"env": name, "about": about, "used_by": used_by, "shown": shown, "also": also}
    if factory is not None:
        return field(default_factory=factory, repr=not secret, metadata=metadata)
    return field(default=default, repr=not secret, metadata=metadata)


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    database_url: str = _env(
        "WA_DATABASE_URL",
        "SQLAlchemy URL of the database",
        default=DEFAULT_DATABASE_URL,
        secret=True,
        shown=DEFAULT_DATABASE_URL,
    )
    #: A database that has not answered within this is taken as down (docs/outages.md).
    database_timeout_seconds: float = _env(
        "WA_DATABASE_TIMEOUT_SECONDS", "seconds before the database counts as down", default=2.0
    )
    redis_url: str | None = _env(
        "WA_REDIS_URL",
        "settings cache and rate limiter shared by all processes",
        secret=True,
        shown="in-process",
    )
    redis_key_prefix: str = _env(
        "WA_REDIS_KEY_PREFIX", "namespace of every Redis key", default="fdr-whatsapp:"
    )
    pubsub_project: str | None = _env("WA_PUBSUB_PROJECT", "GCP project of Pub/Sub")
    pubsub_fdr_subscription: str | None = _env(
        "WA_PUBSUB_FDR_SUBSCRIPTION", "subscription of the shipment events", WORKER
    )
    # Optional: shipment events for the outcomes from another subscription (docs/outcomes.md).
    pubsub_outcome_subscription: str | None = _env(
        "WA_PUBSUB_OUTCOME_SUBSCRIPTION", "second subscription, for the outcomes", WORKER
    )
    pubsub_activity_topic: str | None = _env(
        "WA_PUBSUB_ACTIVITY_TOPIC", "topic of activity events", shown="logged"
    )
    # WMS event names added to the shipped ones (the RTO and cancellation names are guesses).
    outcome_event_names: Mapping[str, ShipmentEventKind] = _env(
        "WA_OUTCOME_EVENT_NAMES",
        "extra WMS event names of the outcomes, name=kind pairs",
        WORKER,
        factory=dict,
        shown="none",
    )
    pubsub_emulator_host: str | None = _env("PUBSUB_EMULATOR_HOST", "use the Pub/Sub emulator")
    pubsub_push_token: str | None = _env(  # ?token= on push URLs
        "WA_PUBSUB_PUSH_TOKEN", "token that POST /pubsub/push/fdr requires", SERVE, secret=True
    )
    pubsub_push_audience: str | None = _env(  # OIDC: the audience set on the push subscription
        "WA_PUBSUB_PUSH_AUDIENCE", "OIDC audience that pushes must carry", SERVE
    )
    pubsub_push_service_account: str | None = _env(  # OIDC: the account pushes are signed for
        "WA_PUBSUB_PUSH_SERVICE_ACCOUNT", "service account that pushes must be signed for", SERVE
    )
    pubsub_push_jwks_url: str = _env(
        "WA_PUBSUB_PUSH_JWKS_URL",
        "where the OIDC keys of pushes are fetched",
        SERVE,
        default=GOOGLE_OIDC_JWKS_URL,
    )
    meta_graph_url: str = _env(
        "WA_META_GRAPH_URL", "Graph API base URL", default=DEFAULT_META_GRAPH_URL
    )
    meta_api_version: str = _env(
        "WA_META_API_VERSION", "Graph API version", default=DEFAULT_META_API_VERSION
    )
    meta_app_secret: str | None = _env(
        "WA_META_APP_SECRET", "Meta app secret (webhook signatures)", secret=True
    )
    meta_verify_token: str | None = _env(
        "WA_META_VERIFY_TOKEN", "webhook handshake token", SERVE, secret=True
    )
    meta_sandbox: bool = _env(
        "WA_META_SANDBOX",
        "send to the built-in sandbox",
        default=True,
        shown="true when no WA_META_* credential is set",
    )
    meta_phone_number_id: str | None = _env(
        "WA_META_PHONE_NUMBER_ID", "the default sender's phone number id"
    )
    meta_waba_id: str | None = _env("WA_META_WABA_ID", "the default sender's business account")
    meta_access_token: str | None = _env(
        "WA_META_ACCESS_TOKEN", "the default sender's access token", secret=True
    )
    meta_throughput: int = _env(
        "WA_META_THROUGHPUT", "messages per second per sender number", default=80
    )
    meta_timeout_seconds: float = _env("WA_META_TIMEOUT_SECONDS", "Graph API timeout", default=10.0)
    integration_engine_url: str | None = _env(
        "WA_INTEGRATION_ENGINE_URL", "App & Integration engine", shown="only the default sender"
    )
    esb_url: str | None = _env(
        "WA_ESB_URL", "ESB base URL of the NDR actions", shown="actions are recorded only"
    )
    esb_token: str | None = _env(  # sent as a bearer Authorization
        "WA_ESB_TOKEN", "bearer token sent to the ESB", secret=True
    )
    portal_tracking_url: str | None = _env(
        "WA_PORTAL_TRACKING_URL",
        "the customer portal's tracking page",
        SERVE,
        shown="the built-in stand-in",
    )
    public_base_url: str = _env(
        "WA_PUBLIC_BASE_URL",
        "where shoppers reach /track/whatsapp",
        default="http://127.0.0.1:8000",
    )
    default_account_id: int = _env(
        "WA_DEFAULT_ACCOUNT_ID",
        "the Eshopbox account (default sender, shipped templates)",
        default=5,
    )
    auth_jwt_secret: str | None = _env(
        "WA_AUTH_JWT_SECRET",
        "HS256 secret of portal tokens",
        SERVE,
        secret=True,
        shown="portal closed",
    )
    auth_jwks_url: str | None = _env("WA_AUTH_JWKS_URL", "JWKS of portal tokens", SERVE)
    auth_audience: str | None = _env(  # when set, portal tokens must carry this ``aud``
        "WA_AUTH_AUDIENCE", "the aud portal tokens must carry", SERVE
    )
    support_phone: str = _env(
        "WA_SUPPORT_PHONE", "support phone shown to shoppers", default="+91-9876543210"
    )
    support_email: str = _env(
        "WA_SUPPORT_EMAIL", "support e-mail shown to shoppers", default="eshopbox@support.com"
    )
    default_phone_region: str = _env(  # whose mobiles are accepted as alternates
        "WA_DEFAULT_PHONE_REGION", "the shoppers' country (ISO 3166)", default=DEFAULT_REGION
    )
    webhook_pump: str = _env(
        "WA_WEBHOOK_PUMP",
        "inline: serve also processes stored webhooks; off: it only stores them "
        "(run `fdr-whatsapp pump`)",
        SERVE,
        default="inline",
    )
    webhook_poll_seconds: float = _env(  # how often `fdr-whatsapp pump` looks for new bodies
        "WA_WEBHOOK_POLL_SECONDS",
        "seconds between looks for newly stored webhook bodies",
        PUMP,
        default=0.2,
    )
    worker_concurrency: int = _env(
        "WA_WORKER_CONCURRENCY", "events handled at once", WORKER, default=32
    )
    unknown_send_recheck_seconds: float = _env(
        "WA_UNKNOWN_SEND_RECHECK_SECONDS",
        "seconds before an unknown send is looked at again",
        WORKER,
        default=600.0,
    )
    scheduler_poll_seconds: float = _env(  # how often a worker looks for due jobs when idle
        "WA_SCHEDULER_POLL_SECONDS",
        "seconds between looks for due scheduled jobs when idle",
        WORKER,
        default=5.0,
    )
    fdr_stale_after_hours: float = _env(
        "WA_FDR_STALE_AFTER_HOURS", "failed attempts older than this are skipped", default=48.0
    )
    # Workspaces that chose none get this window (docs/quiet-hours.md).
    quiet_hours: QuietHours = _env(
        "WA_QUIET_HOURS",
        "no template between these hours (HH:MM-HH:MM or off)",
        WORKER,
        default=DEFAULT_QUIET_HOURS,
        shown="21:00-09:00",
        also=(("WA_QUIET_HOURS_ZONE", "Asia/Kolkata", "time zone of the quiet hours"),),
    )
    worker_metrics_port: int | None = _env(  # where the worker serves /metrics; None: nowhere
        "WA_WORKER_METRICS_PORT",
        "Prometheus metrics port (0: off)",
        WORKER,
        shown=str(DEFAULT_WORKER_METRICS_PORT),
    )
    # Set explicitly: a port that cannot be served stops the worker. The default port, when
    # taken (a second worker on the same host), only costs that worker its metrics.
    worker_metrics_port_required: bool = False
    pump_metrics_port: int | None = _env(  # where `fdr-whatsapp pump` serves /metrics
        "WA_PUMP_METRICS_PORT",
        "Prometheus metrics port (0: off)",
        PUMP,
        shown=str(DEFAULT_PUMP_METRICS_PORT),
    )
    pump_metrics_port_required: bool = False  # as worker_metrics_port_required
    log_level: str = _env("WA_LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR", default="INFO")
    log_json: bool = _env("WA_LOG_JSON", "log JSON lines", default=False)

    @property
    def database_backend(self) -> str:
        from sqlalchemy.engine import make_url  # see _database_url

        return make_url(self.database_url).get_backend_name()

    def database_label(self) -> str:
        """Which database, where, without the password: ``MySQL/MariaDB root@db:3306/fdr``."""
        from sqlalchemy.engine import make_url  # see _database_url

        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite":
            return f"SQLite {url.database or ':memory:'}"
        where = f"{url.host or 'localhost'}:{url.port or 3306}/{url.database or ''}"
        return f"MySQL/MariaDB {url.username}@{where}" if url.username else f"MySQL/MariaDB {where}"

    def meta_label(self) -> str:
        """Where WhatsApp messages go, in one line (printed at start)."""
        if self.meta_sandbox:
            return (
                "Meta sandbox: nothing is sent to WhatsApp (all four of "
                f"{', '.join(META_CREDENTIALS)} send to Meta)"
            )
        return f"sending to Meta's Cloud API at {self.meta_graph_url} ({self.meta_api_version})"


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    default: str
    about: str


def variables(command: str) -> list[Variable]:
    """The environment variables ``command`` reads, from ``Config``'s own fields."""
    found = []
    for setting in fields(Config):
        meta = setting.metadata
        if "env" not in meta or command not in meta["used_by"]:
            continue
        default = meta["shown"] or ("unset" if setting.default is None else setting.default)
        if isinstance(default, bool):
            default = str(default).lower()
        elif isinstance(default, float):
            default = f"{default:g}"

        found.append(Variable(meta["env"], str(default), meta["about"]))
        found.extend(Variable(*more) for more in meta["also"])
    return found


T = TypeVar("T")


def load_config(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> Config:
    """Reads the environment; ``.env`` fills in what the environment does not set."""
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return _Reader(values).config()


class _Reader:
    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def raw(self, name: str) -> str | None:
        value = self._values.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def get(self, name: str, parse: Callable[[str], T], default: T) -> T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse(value)
        except ValueError as exc:  # _database_url turns a bad URL into one
            raise ConfigError(name, str(exc)) from None

    def config(self) -> Config:
        meta_credentials = {name: self.raw(name) for name in META_CREDENTIALS}
        missing = [name for name, value in meta_credentials.items() if value is None]
        chosen = self.get("WA_META_SANDBOX", _boolean, None)
        # A partial set is a mistake, not a wish for the sandbox: say what is missing. Only an
        # explicit WA_META_SANDBOX=true runs the sandbox with some credentials set.
        if missing and (chosen is False or (chosen is None and len(missing) < 4)):
            raise ConfigError(
                missing[0],
                f"{'is' if len(missing) == 1 else 'are'} missing: sending to Meta needs all four "
                f"of {', '.join(META_CREDENTIALS)} (set none of them for the sandbox)",
                also=missing[1:],
            )
        sandbox = bool(missing) if chosen is None else chosen
        # Sent in the Authorization header and in the URL's path: checked before any request.
        for name, check in _CREDENTIAL_CHECKS.items():
            self.get(name, check, None)
        project = self.raw("WA_PUBSUB_PROJECT")
        for name in (
            "WA_PUBSUB_FDR_SUBSCRIPTION",
            "WA_PUBSUB_OUTCOME_SUBSCRIPTION",
            "WA_PUBSUB_ACTIVITY_TOPIC",
        ):
            if self.raw(name) and not project:
                raise ConfigError("WA_PUBSUB_PROJECT", f"is required when {name} is set")
        if self.raw("WA_PUBSUB_PUSH_SERVICE_ACCOUNT") and not self.raw("WA_PUBSUB_PUSH_AUDIENCE"):
            raise ConfigError(
                "WA_PUBSUB_PUSH_AUDIENCE", "is required when WA_PUBSUB_PUSH_SERVICE_ACCOUNT is set"
            )
        return Config(
            database_url=self.get("WA_DATABASE_URL", _database_url, DEFAULT_DATABASE_URL),
            database_timeout_seconds=self.get("WA_DATABASE_TIMEOUT_SECONDS", _positive_float, 2.0),
            redis_url=self.get("WA_REDIS_URL", _redis_url, None),
            redis_key_prefix=self.raw("WA_REDIS_KEY_PREFIX") or "fdr-whatsapp:",
            pubsub_project=project,
            pubsub_fdr_subscription=self.get("WA_PUBSUB_FDR_SUBSCRIPTION", _resource_name, None),
            pubsub_outcome_subscription=self.get(
                "WA_PUBSUB_OUTCOME_SUBSCRIPTION", _resource_name, None
            ),
            pubsub_activity_topic=self.get("WA_PUBSUB_ACTIVITY_TOPIC", _resource_name, None),
            outcome_event_names=self.get("WA_OUTCOME_EVENT_NAMES", _event_names, {}),
            pubsub_emulator_host=self.get("PUBSUB_EMULATOR_HOST", _host_port, None),
            meta_graph_url=self.get("WA_META_GRAPH_URL", _http_url, DEFAULT_META_GRAPH_URL),
            meta_api_version=self.get(
                "WA_META_API_VERSION", _api_version, DEFAULT_META_API_VERSION
            ),
            meta_app_secret=meta_credentials["WA_META_APP_SECRET"],
            meta_verify_token=self.raw("WA_META_VERIFY_TOKEN"),
            meta_sandbox=sandbox,
            meta_phone_number_id=meta_credentials["WA_META_PHONE_NUMBER_ID"],
            meta_waba_id=meta_credentials["WA_META_WABA_ID"],
            meta_access_token=meta_credentials["WA_META_ACCESS_TOKEN"],
            meta_throughput=self.get("WA_META_THROUGHPUT", _throughput, 80),
            meta_timeout_seconds=self.get("WA_META_TIMEOUT_SECONDS", _positive_float, 10.0),
            integration_engine_url=self.get("WA_INTEGRATION_ENGINE_URL", _http_url, None),
            esb_url=self.get("WA_ESB_URL", _http_url, None),
            esb_token=self.get("WA_ESB_TOKEN", _header_token, None),
            portal_tracking_url=self.get("WA_PORTAL_TRACKING_URL", _tracking_url, None),
            public_base_url=self.get("WA_PUBLIC_BASE_URL", _http_url, "http://127.0.0.1:8000"),
            default_account_id=self.get("WA_DEFAULT_ACCOUNT_ID", _positive_int, 5),
            pubsub_push_token=self.get("WA_PUBSUB_PUSH_TOKEN", _push_token, None),
            pubsub_push_audience=self.raw("WA_PUBSUB_PUSH_AUDIENCE"),
            pubsub_push_service_account=self.raw("WA_PUBSUB_PUSH_SERVICE_ACCOUNT"),
            pubsub_push_jwks_url=self.get(
                "WA_PUBSUB_PUSH_JWKS_URL", _http_url, GOOGLE_OIDC_JWKS_URL
            ),
            auth_jwt_secret=self.get("WA_AUTH_JWT_SECRET", _jwt_secret, None),
            auth_jwks_url=self.get("WA_AUTH_JWKS_URL", _http_url, None),
            auth_audience=self.raw("WA_AUTH_AUDIENCE"),
            support_phone=self.raw("WA_SUPPORT_PHONE") or "+91-9876543210",
            support_email=self.raw("WA_SUPPORT_EMAIL") or "eshopbox@support.com",
            default_phone_region=self.get("WA_DEFAULT_PHONE_REGION", _region, DEFAULT_REGION),
            webhook_pump=self.get("WA_WEBHOOK_PUMP", _pump_mode, "inline"),
            webhook_poll_seconds=self.get("WA_WEBHOOK_POLL_SECONDS", _positive_float, 0.2),
            worker_concurrency=self.get("WA_WORKER_CONCURRENCY", _positive_int, 32),
            unknown_send_recheck_seconds=self.get(
                "WA_UNKNOWN_SEND_RECHECK_SECONDS", _positive_float, 600.0
            ),
            fdr_stale_after_hours=self.get("WA_FDR_STALE_AFTER_HOURS", _positive_float, 48.0),
            scheduler_poll_seconds=self.get("WA_SCHEDULER_POLL_SECONDS", _positive_float, 5.0),
            quiet_hours=QuietHours(
                *self.get(
                    "WA_QUIET_HOURS",
                    _window,
                    (DEFAULT_QUIET_HOURS.start, DEFAULT_QUIET_HOURS.end),
                ),
                self.get("WA_QUIET_HOURS_ZONE", check_zone, DEFAULT_QUIET_HOURS.zone),
            ),
            worker_metrics_port=self.get(
                "WA_WORKER_METRICS_PORT", _port_or_off, DEFAULT_WORKER_METRICS_PORT
            ),
            worker_metrics_port_required=self.raw("WA_WORKER_METRICS_PORT") is not None,
            pump_metrics_port=self.get(
                "WA_PUMP_METRICS_PORT", _port_or_off, DEFAULT_PUMP_METRICS_PORT
            ),
            pump_metrics_port_required=self.raw("WA_PUMP_METRICS_PORT") is not None,
            log_level=self.get("WA_LOG_LEVEL", _log_level, "INFO"),
            log_json=self.get("WA_LOG_JSON", _boolean, False),
        )


def _event_names(value: str) -> dict[str, ShipmentEventKind]:
    """``rto_ofd=rto_initiated, return_received=rto_delivered``: WMS names and their kinds."""
    kinds = ", ".join(k.value for k in ShipmentEventKind)
    names: dict[str, ShipmentEventKind] = {}
    for pair in value.split(","):
        name, equals, kind = (part.strip() for part in pair.partition("="))
        if not pair.strip():
            continue
        if not equals or not name or kind not in {k.value for k in ShipmentEventKind}:
            raise ValueError(f"must be name=kind pairs separated by commas, kind one of {kinds}")
        names[event_name(name)] = ShipmentEventKind(kind)
    return names


def _boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, not {value!r}")


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"must be a whole number, not {value!r}") from None
    if number <= 0:
        raise ValueError(f"must be positive, not {number}")
    return number


def _port_or_off(value: str) -> int | None:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"must be a port number (0 turns it off), not {value!r}") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"must be a port number from 1 to 65535 (0 turns it off), not {number}")
    return number or None


def _window(value: str) -> tuple[time, time]:
    """``21:00-09:00``; ``off`` (or an equal start and end) for none."""
    if value.strip().lower() == "off":
        return (time(0), time(0))
    start, sep, end = value.strip().partition("-")
    if not sep:
        raise ValueError(f"must be HH:MM-HH:MM (e.g. 21:00-09:00) or off, not {value[:32]!r}")
    return (parse_clock(start.strip()), parse_clock(end.strip()))


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"must be a number, not {value!r}") from None
    if number <= 0:
        raise ValueError(f"must be positive, not {number}")
    return number


def _throughput(value: str) -> int:
    number = _positive_int(value)
    if number > META_THROUGHPUT_MAX:
        raise ValueError(f"must be at most {META_THROUGHPUT_MAX} (Meta's highest tier)")
    return number


def _database_url(value: str) -> str:
    # Imported here: SQLAlchemy takes most of a second to import, and ``fdr-whatsapp --help``
    # (which lists these variables) needs none of it.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(
            "is not a SQLAlchemy URL (e.g. mysql+asyncmy://user:pass@host/db)"
        ) from None
    if url.drivername not in ("mysql+asyncmy", "sqlite+aiosqlite", "mariadb+asyncmy"):
        raise ValueError(
            f"uses driver {url.drivername!r}; use mysql+asyncmy:// or sqlite+aiosqlite://"
        )
    return value


def _redis_url(value: str) -> str:
    if urlparse(value).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must start with redis://, rediss:// or unix://")
    return value


def _http_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"must be an http(s) URL, not {value!r}")
    return value.rstrip("/")


def _tracking_url(value: str) -> str:
    _http_url(value)
    try:
        value.format(tracking_id="t", shipment_id="s", order_number="o")
    except (KeyError, IndexError, ValueError):
        raise ValueError(
            "may only use the placeholders {tracking_id}, {shipment_id} and {order_number}"
        ) from None
    return value


def _host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"must be host:port, not {value!r}")
    return value


def _resource_name(value: str) -> str:
    if "/" in value and not value.startswith("projects/"):
        raise ValueError("must be a bare name or projects/<project>/...")
    return value


def _api_version(value: str) -> str:
    if not (value.startswith("v") and value[1:].replace(".", "").isdigit()):
        raise ValueError(f"must look like v23.0, not {value!r}")
    return value


def _jwt_secret(value: str) -> str:
    if len(value) < 32:
        raise ValueError("must be at least 32 characters (HS256 key)")
    return value


def _push_token(value: str) -> str:
    if len(value) < 16 or not value.isascii() or not value.isprintable():
        raise ValueError("must be at least 16 printable ASCII characters")
    return value


def _header_token(value: str) -> str:
    # Sent in a header: a space or a control character would break the request or be cut.
    if not fits_a_header(value):
        raise ValueError("must be printable ASCII without spaces")
    return value


def _path_segment(value: str) -> str:
    # One segment of the Graph API's URL path.
    if not fits_a_path(value):
        raise ValueError("must be printable ASCII without spaces, '/', '?', '#' or '%'")
    return value


#: The Meta credentials that go out with a request, and what each must be.
_CREDENTIAL_CHECKS: dict[str, Callable[[str], str]] = {
    "WA_META_PHONE_NUMBER_ID": _path_segment,
    "WA_META_WABA_ID": _path_segment,
    "WA_META_ACCESS_TOKEN": _header_token,
}


def _region(value: str) -> str:
    region = value.upper()
    mobile_example(region)  # raises ValueError for a region without mobile numbers
    return region


def _pump_mode(value: str) -> str:
    mode = value.lower()
    if mode not in PUMP_MODES:
        raise ValueError(f"must be inline or off, not {value[:32]!r}")
    return mode


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return level
