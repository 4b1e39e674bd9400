"""`ticket-audit rebuild` of one log by this checkout and another, in turns: how a change to
the rebuild compares with the code before it, on the same log and the same machine.

    python -m bench.rebuild_beside --checkout DIR [--events N] [--rounds R] [--backends ...]

The log is seeded once, as `make bench` seeds it (N events over 10,000 tickets). Each round
runs both checkouts' `ticket-audit rebuild` (each with its own `.venv`) one after the other,
the order swapped every round: the side that runs second does a little worse. Each run
reports its events/s, timed from outside, and its CPU per event: the command with the two
processes it starts, and PostgreSQL's (its connections' processes end with the run, so
their time is read from the server's count of its ended children).
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.cpu import postgres_cpu_seconds_with_ended
from bench.databases import KINDS, Backends, Kind, default_postgres_url, fresh_database
from bench.processes import REPO_ROOT, checkout_command
from bench.seed import seed_log

# Bounds one rebuild; far beyond any seen.
REBUILD_LIMIT_SECONDS = 3600
# Time for PostgreSQL to reap the connections' processes once the command has ended.
REAP_SECONDS = 0.3
# As many tickets as the full run of `make bench` spreads its events over.
TICKETS = 10_000


def timed_rebuild(checkout: Path, database_url: str) -> dict[str, Any]:
    """One `ticket-audit rebuild` by `checkout`'s interpreter: events, time and CPU."""
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    postgres_before = postgres_cpu_seconds_with_ended()
    printed, seconds = checkout_command(checkout, ["rebuild"], database_url, REBUILD_LIMIT_SECONDS)
    time.sleep(REAP_SECONDS)
    postgres_s = postgres_cpu_seconds_with_ended() - postgres_before
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    command_s = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    events = max(int(count) for count in re.findall(r"rebuilt from (\d+) events", printed))
    return {
        "checkout": str(checkout),
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds, 1),
        "command_cpu_us_per_event": round(command_s / events * 1e6, 1),
        "postgres_cpu_us_per_event": round(postgres_s / events * 1e6, 1),
    }


def rounds_beside(
    backends: Backends, kind: Kind, events: int, rounds: int, checkouts: list[Path]
) -> dict[str, Any]:
    """Every run of every round, and each checkout's medians."""
    runs: list[dict[str, Any]] = []
    with fresh_database(backends, kind, "rebuild_beside") as database:
        seed_log(database.url, 0, events, TICKETS)
        for round_number in range(rounds):
            order = checkouts if round_number % 2 == 0 else list(reversed(checkouts))
            runs += [{"round": round_number, **timed_rebuild(c, database.url)} for c in order]
    figures = ("events_per_s", "command_cpu_us_per_event", "postgres_cpu_us_per_event")
    medians = {}
    for checkout in checkouts:
        own = [run for run in runs if run["checkout"] == str(checkout)]
        medians[str(checkout)] = {
            figure: statistics.median(r[figure] for r in own) for figure in figures
        }
    return {"events": events, "rounds": rounds, "runs": runs, "medians": medians}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, required=True, help="the checkout to compare")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backends", default="postgres")
    parser.add_argument("--postgres-url", default=default_postgres_url())
    args = parser.parse_args()
    checkouts = [REPO_ROOT, args.checkout.resolve()]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ticket-audit-rebuild-") as workdir:
        backends = Backends(args.postgres_url, Path(workdir))
        for name in args.backends.split(","):
            kind = KINDS[name]
            results[kind] = rounds_beside(backends, kind, args.events, args.rounds, checkouts)
    sys.stdout.write(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
