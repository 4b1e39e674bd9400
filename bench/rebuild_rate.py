"""Rebuilding every projection from the log, timed beside scans of the same log: raw, and
decoded as the read models get it.

`two_processes` is `ticket-audit rebuild` run as an operator runs it: every projection,
shared out between two processes that each read the log; its peak RSS is that of its
largest process. `all_projections` is every projection rebuilt in one pass over the log in
one process; `projections` has each one rebuilt alone, for comparison.

The work runs in a child process (`python -m bench.rebuild_rate DATABASE_URL`) that reports
its own peak RSS as `VmHWM`, the high-water mark of its own memory. `ru_maxrss` would not do:
Linux carries the spawning process's high-water mark into it at exec, so the harness's own
size would show instead.
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.processes import REPO_ROOT, clean_environment
from projections.catalog import CATALOG
from projections.read_model import TicketProjection
from projections.runtime.feed import BATCH_SIZE
from projections.runtime.log_reader import read_batch
from projections.runtime.offline import rebuild_offline
from projections.store.generations import ProjectionStores
from service.application import TicketAudit
from service.settings import DatabaseLocation
from service.storage import open_log


def rate(events: int, seconds: float) -> float:
    return round(events / seconds, 1) if seconds else 0.0


def measure_rebuild(database_url: str) -> dict[str, Any]:
    """Events/s of rebuilding every projection in one pass, of each one alone, and of a raw
    scan, and the peak RSS doing them."""
    done = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "bench.rebuild_rate", database_url],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        check=True,
    )
    result: dict[str, Any] = orjson.loads(done.stdout)
    scan_rate = result["scan"]["events_per_s"]
    for key in ("all_projections", "two_processes"):
        figures = result[key]
        figures["share_of_scan_rate"] = (
            round(figures["events_per_s"] / scan_rate, 4) if scan_rate else None
        )
    return result


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status")


def raw_scan(location: DatabaseLocation) -> dict[str, Any]:
    """Read every notification page by page as the followers do, decoding nothing."""

    def next_page(log: TicketAudit, after: int) -> tuple[int, int] | None:
        page = log.recorder.select_notifications(
            start=after, limit=BATCH_SIZE, inclusive_of_start=False
        )
        return (len(page), page[-1].id) if page else None

    return timed_scan(location, next_page)


def decoded_scan(location: DatabaseLocation) -> dict[str, Any]:
    """Read and decode every event page by page as the read models get them, applying none:
    the most a process that decodes the whole log can rebuild at."""

    def next_page(log: TicketAudit, after: int) -> tuple[int, int] | None:
        batch = read_batch(log.recorder, log.mapper, after, BATCH_SIZE)
        return (batch.count, batch.last_position) if batch else None

    return timed_scan(location, next_page)


def timed_scan(
    location: DatabaseLocation, next_page: Callable[[TicketAudit, int], tuple[int, int] | None]
) -> dict[str, Any]:
    """The log read to its end by `next_page` (events read, last position; None at the end)."""
    log = open_log(location)
    try:
        started = time.perf_counter()
        after, rows = 0, 0
        while page := next_page(log, after):
            read, after = page
            rows += read
        seconds = time.perf_counter() - started
    finally:
        log.close()
    return {"events": rows, "seconds": round(seconds, 3), "events_per_s": rate(rows, seconds)}


def command_rebuild(database_url: str) -> dict[str, Any]:
    """`ticket-audit rebuild` of every projection, timed from outside (start-up included),
    with the peak RSS of the largest of its processes."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "rebuild"],
        cwd=REPO_ROOT,
        env=clean_environment(TICKET_AUDIT_DATABASE_URL=database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    # The largest of every process waited for so far: the command and the two it starts.
    largest_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    read = [int(count) for count in re.findall(r"rebuilt from (\d+) events", done.stdout)]
    events = max(read, default=0)
    return {
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_s": rate(events, seconds),
        "peak_rss_mib": round(largest_kib / 1024, 1),
    }


def timed_rebuild(
    location: DatabaseLocation, classes: Sequence[type[TicketProjection]]
) -> dict[str, Any]:
    log = open_log(location)
    storage = ProjectionStores(location)
    try:
        started = time.perf_counter()
        applied = rebuild_offline(log, storage, classes)
        seconds = time.perf_counter() - started
    finally:
        storage.close()
        log.close()
    return {"events": applied, "seconds": round(seconds, 3), "events_per_s": rate(applied, seconds)}


def main() -> None:
    location = DatabaseLocation.parse(sys.argv[1])
    # First, while this process is small: a child starts with its parent's high-water mark.
    command = command_rebuild(sys.argv[1])
    scan = raw_scan(location)
    decoded = decoded_scan(location)
    # The one pass first, so that the high-water mark read after it is its own.
    together = timed_rebuild(location, list(CATALOG.values()))
    together["peak_rss_mib"] = peak_rss_mib()
    alone = {name: timed_rebuild(location, [cls]) for name, cls in CATALOG.items()}
    result = {
        "events": together["events"],
        "projections": alone,
        "all_projections": together,
        "two_processes": command,
        "scan": scan,
        "decoded_scan": decoded,
        "peak_rss_mib": peak_rss_mib(),
    }
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
