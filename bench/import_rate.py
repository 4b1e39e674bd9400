"""`ticket-audit import` of an NDJSON file, timed from outside as an operator would run it.

The file holds N deliveries over N/20 tickets (`bench/deliveries.py`), every one a new
version. It is imported into a fresh, empty log, then imported again: the second run finds
every delivery a duplicate, which times the judging alone.

    python -m bench.import_rate --deliveries N [--backends postgres,sqlite] [--checkout DIR]

`--checkout` times another checkout's `ticket-audit` (its own `.venv`) on the same file and
the same kind of database, beside this one's: how a change compares with the code before it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from bench.databases import KINDS, Backends, Kind, default_postgres_url, fresh_database
from bench.deliveries import delivery_body
from bench.processes import REPO_ROOT, checkout_command
from service.settings import DatabaseLocation
from service.storage import open_log

DELIVERIES_PER_TICKET = 20
# Bounds one import; far beyond any seen.
IMPORT_LIMIT_SECONDS = 3600


def tickets_for(deliveries: int) -> int:
    return max(deliveries // DELIVERIES_PER_TICKET, 1)


def write_deliveries(path: Path, deliveries: int) -> int:
    """N deliveries, one per line, over N/20 tickets; the bytes written."""
    pool = tickets_for(deliveries)
    with path.open("wb") as file:
        for index in range(deliveries):
            file.write(delivery_body(index, pool) + b"\n")
    return path.stat().st_size


def timed_import(checkout: Path, database_url: str, path: Path) -> dict[str, Any]:
    """One `ticket-audit import FILE` by `checkout`'s interpreter; its summary and time."""
    printed, seconds = checkout_command(
        checkout, ["import", str(path)], database_url, IMPORT_LIMIT_SECONDS
    )
    return {"summary": printed.strip(), "seconds": round(seconds, 3)}


def import_rates(
    backends: Backends, kind: Kind, deliveries: int, checkout: Path = REPO_ROOT
) -> dict[str, Any]:
    """Deliveries/s of importing the file into an empty log, and of importing it again."""
    source = backends.workdir / f"import-{deliveries}.ndjson"
    size = write_deliveries(source, deliveries)
    try:
        with fresh_database(backends, kind, "import") as database:
            open_log(DatabaseLocation.parse(database.url)).close()
            fresh = timed_import(checkout, database.url, source)
            again = timed_import(checkout, database.url, source)
    finally:
        source.unlink()
    return {
        "deliveries": deliveries,
        "tickets": tickets_for(deliveries),
        "file_bytes": size,
        "checkout": str(checkout),
        "into_empty_log": {**fresh, "deliveries_per_s": _rate(deliveries, fresh["seconds"])},
        "all_duplicates": {**again, "deliveries_per_s": _rate(deliveries, again["seconds"])},
    }


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--backends", default="postgres,sqlite")
    parser.add_argument("--checkout", type=Path, help="another checkout to time beside this one")
    parser.add_argument("--postgres-url", default=default_postgres_url())
    args = parser.parse_args()
    checkouts = [REPO_ROOT, *([args.checkout.resolve()] if args.checkout else [])]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ticket-audit-import-") as workdir:
        backends = Backends(args.postgres_url, Path(workdir))
        for name in args.backends.split(","):
            kind = KINDS[name]
            # Each checkout right after the other, so that load on the machine hits both alike.
            results[kind] = [
                import_rates(backends, kind, args.deliveries, checkout) for checkout in checkouts
            ]
    sys.stdout.write(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
