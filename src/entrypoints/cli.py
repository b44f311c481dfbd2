"""``fdr-whatsapp``: serve, worker, migrate, purge, webhooks, demo, sandbox."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from infrastructure.config import Config, ConfigError, load_config
from infrastructure.logging import configure_logging


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = load_config()
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    configure_logging(config.log_level, config.log_json)
    command: int = args.run(config, args)
    return command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fdr-whatsapp",
        description="Failed-delivery notifications on WhatsApp.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(run=_serve)

    worker = commands.add_parser("worker", help="pull FDR events from Pub/Sub")
    worker.set_defaults(run=_worker)

    migrate = commands.add_parser("migrate", help="upgrade the database (alembic upgrade head)")
    migrate.add_argument("--revision", default="head")
    migrate.add_argument(
        "--downgrade", action="store_true", help="downgrade to --revision (default: base)"
    )
    migrate.set_defaults(run=_migrate)

    purge = commands.add_parser(
        "purge", help="delete raw webhook bodies processed more than --older-than-days ago"
    )
    purge.add_argument(
        "--older-than-days",
        type=_days,
        default=14,
        help="keep bodies processed within this many days (default 14); bodies processed "
        "with an error are always kept",
    )
    purge.set_defaults(run=_purge)

    templates = commands.add_parser("templates", help="the shipped templates at Meta")
    template_commands = templates.add_subparsers(dest="templates_command", required=True)
    for name, text in (
        ("push", "create the account's templates at Meta (those Meta has are left alone)"),
        ("status", "each template's review status at Meta (APPROVED, PENDING, REJECTED...)"),
    ):
        command = template_commands.add_parser(name, help=text)
        command.add_argument(
            "--account",
            type=int,
            default=None,
            help="the workspace (default: WA_DEFAULT_ACCOUNT_ID, whose templates are the "
            "shipped ones)",
        )
    templates.set_defaults(run=_templates)

    webhooks = commands.add_parser("webhooks", help="stored Meta webhook bodies")
    _webhook_commands(webhooks)
    webhooks.set_defaults(run=_webhooks)

    demo = commands.add_parser("demo", help="everything in one process on the embedded default")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(run=_demo)

    sandbox = commands.add_parser("sandbox", help="play the shopper against a running demo")
    _sandbox_commands(sandbox)
    sandbox.set_defaults(run=_sandbox)
    return parser


def _sandbox_commands(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running demo")
    commands = parser.add_subparsers(dest="sandbox_command", required=True)
    event = commands.add_parser("event", help="push a shipment event (JSON file) to the demo")
    event.add_argument("file", type=Path)
    reply = commands.add_parser("reply", help="answer the latest message about a shipment")
    reply.add_argument("shipment_id", type=int)
    answer = reply.add_mutually_exclusive_group(required=True)
    answer.add_argument("--button", help="a template button id, e.g. reattempt, choose_date")
    answer.add_argument("--date", type=int, help="pick the Nth offered date (1-3)")
    answer.add_argument("--text", help="type a message, e.g. an alternate phone number")
    status = commands.add_parser("status", help="report a tick for the latest message")
    status.add_argument("shipment_id", type=int)
    status.add_argument("state", choices=["sent", "delivered", "read", "failed"])
    show = commands.add_parser("show", help="print the conversation about a shipment")
    show.add_argument("shipment_id", type=int)


def _webhook_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="webhooks_command", required=True)
    show = commands.add_parser("show", help="print what became of a stored body")
    show.add_argument("id", type=int, help="the body's id (wa_webhook_inbox.id, in ALERT lines)")
    show.add_argument(
        "--body", action="store_true", help="print the body too (phone numbers masked)"
    )
    retry = commands.add_parser(
        "retry", help="process kept bodies again after a fix (what was applied stays once)"
    )
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", type=int, nargs="*", default=[], help="body ids")
    which.add_argument(
        "--errors", action="store_true", help="every processed body that carries an error"
    )


def _templates(config: Config, args: argparse.Namespace) -> int:
    from entrypoints.maintenance import templates_at_meta

    account = config.default_account_id if args.account is None else args.account
    return templates_at_meta(config, account, push=args.templates_command == "push")


def _webhooks(config: Config, args: argparse.Namespace) -> int:
    from entrypoints.maintenance import retry_webhook_bodies, show_webhook_body

    if args.webhooks_command == "show":
        return show_webhook_body(config, args.id, with_body=args.body)
    return retry_webhook_bodies(config, args.ids, with_errors=args.errors)


def _schema_is_current(config: Config) -> bool:
    """Serving on a database that is not migrated would fail every request: stop instead."""
    import asyncio

    from infrastructure.db.migrations import schema_problem_at

    problem = asyncio.run(schema_problem_at(config.database_url, config.database_timeout_seconds))
    if problem is not None:
        print(problem, file=sys.stderr)
        return False
    return True


def _serve(config: Config, args: argparse.Namespace) -> int:
    import structlog
    import uvicorn

    if not _schema_is_current(config):
        return 2

    from entrypoints.http.app import create_app
    from entrypoints.wiring import build_container

    structlog.get_logger("startup").info(config.meta_label())
    app = create_app(build_container(config))
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


def _worker(config: Config, args: argparse.Namespace) -> int:
    from entrypoints.worker import run_worker

    if not _schema_is_current(config):
        return 2
    return run_worker(config)  # says where messages go once its own checks pass


def _migrate(config: Config, args: argparse.Namespace) -> int:
    from infrastructure.db import migrations

    if args.downgrade:
        revision = "base" if args.revision == "head" else args.revision
        migrations.downgrade(config.database_url, revision)
        print(f"database downgraded to {revision}")
    else:
        migrations.upgrade(
            config.database_url, args.revision, default_account_id=config.default_account_id
        )
        print(f"database upgraded to {args.revision}")
    return 0


def _days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        days = -1
    if days < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of days (0 or more)")
    return days


def _purge(config: Config, args: argparse.Namespace) -> int:
    from entrypoints.maintenance import purge_webhook_bodies

    deleted = purge_webhook_bodies(config, timedelta(days=args.older_than_days))
    print(f"deleted {deleted} processed webhook bodies older than {args.older_than_days} days")
    return 0


def _demo(config: Config, args: argparse.Namespace) -> int:
    from entrypoints.demo import run_demo

    return run_demo(config, args.host, args.port)


def _sandbox(config: Config, args: argparse.Namespace) -> int:
    from entrypoints.sandbox import run_sandbox

    return run_sandbox(config, args)


if __name__ == "__main__":
    raise SystemExit(main())
