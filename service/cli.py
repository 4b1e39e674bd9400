"""The `ticket-audit` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import version

from service.settings import Settings, SettingsError, load_settings
from service.signatures import InvalidSigningSecret, SignatureVerifier
from service.storage_errors import STORAGE_ERRORS, StartupError, classify

EXIT_CODES = """exit codes:
  0  done (verify: the log is intact; doctor: nothing needs attention)
  1  done, with a finding: verify found the log broken, import rejected lines,
     doctor found something that needs attention; or storage failed
  2  not started: a setting or argument is wrong, or there is no log at the
     database URL (only `serve` creates one)
  130  interrupted (Ctrl-C); what was recorded before stays recorded"""


# The shell's convention for a command ended by SIGINT.
INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ticket-audit",
        description="Tamper-evident audit log of Ingresse ticket changes.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {version('ticket-audit')}"
    )
    # Every command reads the same log, so every command takes its URL.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url",
        metavar="URL",
        help="sqlite:///PATH or postgresql://USER[:PASS]@HOST[:PORT]/DB "
        "(TICKET_AUDIT_DATABASE_URL; default: a SQLite log in TICKET_AUDIT_DATA_DIR)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, description: str = "") -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            parents=[common],
            help=help_text,
            description=description or help_text,
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    serve = command("serve", "run the HTTP service (creates the log on first start)")
    serve.add_argument("--host", help="address to listen on (TICKET_AUDIT_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (TICKET_AUDIT_PORT)")

    verify = command("verify", "check the log's hash chain")
    verify.add_argument(
        "--checkpoint", metavar="POSITION:HASH", help="a head saved earlier, to catch a cut log"
    )

    rebuild = command("rebuild", "rebuild projections from position 1")
    rebuild.add_argument("names", nargs="*", metavar="NAME", help="projections (default: all)")

    export = command("export", "write the change feed to stdout")
    export.add_argument(
        "--format", choices=("ndjson", "csv"), default="ndjson", help="default: ndjson"
    )
    export.add_argument("--event-id", type=int, help="only this Ingresse eventId")
    export.add_argument("--ticket-id", type=int, help="only this ticket")
    export.add_argument("--path", help="only changes touching this path, e.g. value.price")
    export.add_argument("--since", metavar="T", help="from this source time on (ISO 8601)")
    export.add_argument("--until", metavar="T", help="up to this source time (ISO 8601)")

    importer = command(
        "import",
        "record deliveries from a file",
        "Record deliveries from a file through the same intake as HTTP deliveries. The file "
        "holds one webhook JSON body per line, or one JSON array of them, or one JSON object. "
        "Rejected lines are reported on stderr and kept in the quarantine.",
    )
    importer.add_argument("file", help="the deliveries ('-': stdin)")

    command("doctor", "check settings, database, projections and the last verify")
    return parser


def check_signing_secret(settings: Settings) -> None:
    """An unusable secret is a setting error, told in one line like the others, not a
    traceback from inside the app."""
    if settings.signing_secret is None:
        return
    try:
        SignatureVerifier.from_setting(settings.signing_secret.get_secret_value())
    except InvalidSigningSecret as error:
        raise SettingsError(f"TICKET_AUDIT_SIGNING_SECRET: {error}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            database_url=args.database_url,
        )
        check_signing_secret(settings)
        return _run(args, settings)
    except SettingsError as error:
        return _fail(str(error), 2)
    except StartupError as error:
        return _fail(str(error), error.exit_code)
    except KeyboardInterrupt:
        # Ctrl-C is an answer, not a crash: what was committed stays, say so without a traceback.
        return _fail("interrupted", INTERRUPTED)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        from service.commands.serve import serve

        return serve(settings)
    # Each command checks its arguments, then refuses a missing log (`require_log`) before
    # opening anything: only `serve` creates a log.
    try:
        return _run_on_log(args, settings)
    except STORAGE_ERRORS as error:
        raise classify(error, settings.database) from None


def _run_on_log(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "doctor":
        from service.commands.doctor import doctor

        return doctor(settings)
    if args.command == "verify":
        from service.commands.verify import verify_log

        return verify_log(settings, args.checkpoint)
    if args.command == "rebuild":
        from service.commands.rebuild import rebuild

        return rebuild(settings, args.names)
    if args.command == "export":
        from service.commands.export import export_feed

        return export_feed(
            settings,
            args.format,
            event_id=args.event_id,
            ticket_id=args.ticket_id,
            path=args.path,
            since=args.since,
            until=args.until,
        )
    if args.command == "import":
        from service.commands.importer import import_file

        return import_file(settings, args.file)
    raise AssertionError(f"unknown command {args.command}")


def _fail(message: str, exit_code: int) -> int:
    print(f"ticket-audit: {message}", file=sys.stderr)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
