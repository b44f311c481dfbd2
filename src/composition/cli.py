"""``fdr-whatsapp`` (the console script): reads the command line (``entrypoints.cli``) and the
configuration, then runs the command on the containers it needs."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from entrypoints.cli import parse
from infrastructure.config import Config, ConfigError, load_config

if TYPE_CHECKING:  # each command imports what it runs: --help loads no adapter
    from dishka import AsyncContainer

Command = Callable[[Config, argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    try:
        config = load_config()
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    from infrastructure.logging import configure_logging

    configure_logging(config.log_level, config.log_json)
    return COMMANDS[args.command](config, args)


def one_shot(config: Config) -> Callable[[], AsyncContainer]:
    """Containers for the one-shot maintenance commands.

    A batch delete on a big inbox may take longer than a request's statement should; the
    database-down bound (docs/outages.md) is for the processes that serve.
    """
    patient = dataclasses.replace(
        config, database_timeout_seconds=max(config.database_timeout_seconds, 60.0)
    )
    return lambda: _container(patient)


def _container(config: Config) -> AsyncContainer:
    """Imported when a command needs it: ``migrate`` or ``--help`` load no adapter."""
    from composition.container import build_container

    return build_container(config)


def _schema_is_current(config: Config) -> bool:
    """Serving on a database that is not migrated would fail every request: stop instead."""
    import asyncio

    from infrastructure.db.migrations import schema_problem_at

    problem = asyncio.run(schema_problem_at(config.database_url, config.database_timeout_seconds))
    if problem is not None:
        print(problem, file=sys.stderr)
        return False
    return True


def _freeze_start_up_objects() -> None:
    """What start-up built (modules, classes, the app) lives as long as the process: moved out
    of the collector's sight, so that its full collections, which pause the event loop, walk
    only what requests made since (docs/webhooks.md, "Collector pauses")."""
    import gc

    gc.collect()
    gc.freeze()


def _serve(config: Config, args: argparse.Namespace) -> int:
    import structlog
    import uvicorn

    if not _schema_is_current(config):
        return 2

    from entrypoints.http.app import create_app

    structlog.get_logger("startup").info(config.meta_label())
    # WA_WEBHOOK_PUMP=off: this process stores and answers POSTs, `pump` processes them.
    app = create_app(_container(config), run_pump=config.webhook_pump == "inline")
    _freeze_start_up_objects()
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


def _worker(config: Config, args: argparse.Namespace) -> int:
    from entrypoints.worker import run_worker

    if not _schema_is_current(config):
        return 2
    return run_worker(
        config, lambda: _container(config)
    )  # says where messages go once its own checks pass


def _pump(config: Config, args: argparse.Namespace) -> int:
    from entrypoints.pump import run_pump

    if not _schema_is_current(config):
        return 2
    _freeze_start_up_objects()
    return run_pump(config, lambda: _container(config))


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


def _purge(config: Config, args: argparse.Namespace) -> int:
    from entrypoints.maintenance import purge

    bodies, jobs = purge(one_shot(config), timedelta(days=args.older_than_days))
    print(f"deleted {bodies} processed webhook bodies older than {args.older_than_days} days")
    print(f"deleted {jobs} finished scheduled jobs older than {args.older_than_days} days")
    return 0


def _templates(config: Config, args: argparse.Namespace) -> int:
    from entrypoints.maintenance import templates_at_meta

    account = config.default_account_id if args.account is None else args.account
    return templates_at_meta(one_shot(config), account, push=args.templates_command == "push")


def _webhooks(config: Config, args: argparse.Namespace) -> int:
    from entrypoints.maintenance import retry_webhook_bodies, show_webhook_body

    containers = one_shot(config)
    if args.webhooks_command == "show":
        return show_webhook_body(containers, args.id, with_body=args.body)
    return retry_webhook_bodies(containers, args.ids, with_errors=args.errors)


def _demo(config: Config, args: argparse.Namespace) -> int:
    from composition.demo import run_demo

    return run_demo(config, args.host, args.port)


def _sandbox(config: Config, args: argparse.Namespace) -> int:
    from composition.sandbox import build_sandbox_container
    from entrypoints.sandbox import run_sandbox

    return run_sandbox(lambda: build_sandbox_container(config), args)


COMMANDS: dict[str, Command] = {
    "serve": _serve,
    "worker": _worker,
    "pump": _pump,
    "migrate": _migrate,
    "purge": _purge,
    "templates": _templates,
    "webhooks": _webhooks,
    "demo": _demo,
    "sandbox": _sandbox,
}


if __name__ == "__main__":
    raise SystemExit(main())
