"""The `ticket-audit` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from service.settings import SettingsError, load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ticket-audit", description="Tamper-evident audit log of Ingresse ticket changes."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="address to listen on (TICKET_AUDIT_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (TICKET_AUDIT_PORT)")
    serve.add_argument("--database-url", help="sqlite:///PATH or postgresql://... ")

    verify = commands.add_parser("verify", help="check the log's hash chain")
    verify.add_argument(
        "--checkpoint", metavar="POSITION:HASH", help="a head saved earlier, to catch a cut log"
    )

    rebuild = commands.add_parser("rebuild", help="rebuild projections from position 1")
    rebuild.add_argument("names", nargs="*", metavar="NAME", help="projections (default: all)")

    export = commands.add_parser("export", help="write the change feed to stdout")
    export.add_argument(
        "--format", choices=("ndjson", "csv"), default="ndjson", help="default: ndjson"
    )
    export.add_argument("--event-id", type=int, help="only this Ingresse eventId")
    export.add_argument("--ticket-id", type=int, help="only this ticket")
    export.add_argument("--path", help="only changes touching this path, e.g. value.price")
    export.add_argument("--since", metavar="T", help="from this source time on (ISO 8601)")
    export.add_argument("--until", metavar="T", help="up to this source time (ISO 8601)")

    importer = commands.add_parser("import", help="record deliveries from a file, one per line")
    importer.add_argument("file", help="file with one webhook JSON body per line ('-': stdin)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            database_url=getattr(args, "database_url", None),
        )
        if args.command == "serve":
            from service.commands.serve import serve

            return serve(settings)
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
    except SettingsError as error:
        print(f"ticket-audit: {error}", file=sys.stderr)
        return 2
    raise AssertionError(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
