"""``fdr-whatsapp``'s command line: every command, option and help text (``parse``).

What each command runs is chosen by the composition root (``composition.cli``, the console
script), which builds the containers the commands need.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from entrypoints.sandbox_events import sandbox_reasons
from infrastructure.config import variables


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line: ``command`` names the command (``serve``, ``worker``, ...)."""
    return _parser().parse_args(argv)


class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Each option's default after its help; epilogs (the environment) printed as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == []:
            return action.help  # no default worth saying ("off" is in the help itself)
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """Every command and subcommand formats its help the same way."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)


def environment(command: str) -> str:
    """The ``--help`` epilog of ``serve``, ``worker`` and ``pump``: the variables it reads,
    generated from the configuration's own definition (``infrastructure.config``)."""
    listed = variables(command)
    width = max(len(v.name) for v in listed)
    lines = [
        "environment (a .env file in the working directory is read too; the environment wins;",
        "none is required: the defaults run on SQLite with Meta's sandbox):",
    ]
    lines += [f"  {v.name:<{width}}  {v.about} (default: {v.default})" for v in listed]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fdr-whatsapp",
        description="Failed-delivery notifications on WhatsApp.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the HTTP app (portal API, webhooks, console, tracking links)",
        description="Run the HTTP app: portal API, Meta's webhook, the push endpoint, the "
        "console, tracking links; it also processes stored webhooks (the pump), unless "
        "WA_WEBHOOK_PUMP=off leaves them to `fdr-whatsapp pump`.",
        epilog=environment("serve"),
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")

    commands.add_parser(
        "worker",
        help="pull FDR events from Pub/Sub",
        description="Pull shipment events from WA_PUBSUB_FDR_SUBSCRIPTION and send the "
        "templates; also looks again at sends whose outcome is unknown.",
        epilog=environment("worker"),
    )

    commands.add_parser(
        "pump",
        help="process stored webhooks in a process of their own (with WA_WEBHOOK_PUMP=off)",
        description="Process the webhook bodies `serve` stored (statuses, answers, template "
        "changes), apart from the process that answers Meta's POSTs: run `serve` with "
        "WA_WEBHOOK_PUMP=off and one or more pumps; they share the bodies.",
        epilog=environment("pump"),
    )

    migrate = commands.add_parser("migrate", help="upgrade the database (alembic upgrade head)")
    migrate.add_argument(
        "--revision", default="head", help="the revision to upgrade (or --downgrade) to"
    )
    migrate.add_argument(
        "--downgrade", action="store_true", help="downgrade to --revision (base when head)"
    )

    purge = commands.add_parser(
        "purge",
        help="delete raw webhook bodies processed, and scheduled jobs finished, more than "
        "--older-than-days ago",
        description="Delete raw webhook bodies processed without error, and scheduled jobs "
        "done or cancelled, more than --older-than-days ago (2,000 rows per transaction).",
    )
    purge.add_argument(
        "--older-than-days",
        type=_days,
        default=14,
        help="keep bodies processed and jobs finished within this many days; bodies processed "
        "with an error, failed jobs and pending jobs are always kept",
    )

    templates = commands.add_parser("templates", help="the shipped templates at Meta")
    template_commands = templates.add_subparsers(
        dest="templates_command", required=True, metavar="COMMAND"
    )
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

    webhooks = commands.add_parser("webhooks", help="stored Meta webhook bodies")
    _webhook_commands(webhooks)

    demo = commands.add_parser(
        "demo",
        help="everything in one process on the embedded default, with Meta's sandbox",
        description="The service, a worker and Meta's sandbox in one process on "
        "WA_DATABASE_URL (SQLite by default); prints a link that logs the browser into "
        "the console.",
    )
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on")
    demo.add_argument("--port", type=int, default=8000, help="port to listen on")

    sandbox = commands.add_parser("sandbox", help="play the shopper against a running demo")
    _sandbox_commands(sandbox)
    return parser


def _sandbox_commands(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running demo")
    commands = parser.add_subparsers(dest="sandbox_command", required=True, metavar="COMMAND")
    event = commands.add_parser(
        "event",
        help="push a shipment event to the demo and say what became of it",
        description="Push a shipment event as if the attempt failed just now, then print "
        "what happened: sent (with Meta's message id), skipped (and why), a duplicate, or "
        "malformed (and which field).",
    )
    which = event.add_mutually_exclusive_group(required=True)
    which.add_argument("file", type=Path, nargs="?", help="a shipment event (JSON file)")
    which.add_argument(
        "--reason",
        choices=sandbox_reasons(),
        help="a ready-made event of that reason, shipped with fdr-whatsapp",
    )
    reply = commands.add_parser("reply", help="answer the latest message about a shipment")
    reply.add_argument("shipment_id", type=int, help="the shipment (as in `sandbox show`)")
    answer = reply.add_mutually_exclusive_group(required=True)
    answer.add_argument("--button", help="a template button id, e.g. reattempt, choose_date")
    answer.add_argument("--date", type=int, help="pick the Nth offered date (1-3)")
    answer.add_argument("--text", help="type a message, e.g. an alternate phone number")
    status = commands.add_parser("status", help="report a tick for the latest message")
    status.add_argument("shipment_id", type=int, help="the shipment (as in `sandbox show`)")
    status.add_argument(
        "state", choices=["sent", "delivered", "read", "failed"], help="the tick Meta reports"
    )
    show = commands.add_parser(
        "show",
        help="print the whole conversation about a shipment",
        description="Print the conversation as the console shows it: each message as the "
        "shopper read it with its ticks, the shopper's answers, the actions sent to the ESB "
        "with the ESB's answer, and link clicks.",
    )
    show.add_argument("shipment_id", type=int, help="the shipment")


def _webhook_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="webhooks_command", required=True, metavar="COMMAND")
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


def _days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        days = -1
    if days < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of days (0 or more)")
    return days
