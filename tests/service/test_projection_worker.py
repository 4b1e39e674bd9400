"""`serve` applies the projections in a child process: the worker.

Intake and queries stay in `serve`; the worker applies the log and reports each step, so
`minPosition` reads its own writes through it. A worker that dies is replaced; a `serve`
that dies takes its worker with it; a live rebuild runs in the worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from projections.store.generations import ProjectionStores
from service.settings import DatabaseLocation
from tests.helpers import INTAKE, delivery
from tests.projections.helpers import generation_exists
from tests.service.serve_process import call, serving, serving_process

WORKER_MODULE = "service.projection_worker"
# Bounds on waits for a process to appear or go: generous, as a loaded machine is slow.
PROCESS_WAIT_SECONDS = 30.0
PROCESS_POLL_SECONDS = 0.05


def children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name in parentheses may hold spaces; the parent pid follows it.
        parent = int(stat.rpartition(")")[2].split()[1])
        if parent == pid:
            children.append(int(entry.name))
    return children


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    stat = Path("/proc") / str(pid) / "stat"
    try:
        # A zombie has exited; only its parent's wait is missing.
        return stat.read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def until(condition_met: object, what: str) -> None:
    assert callable(condition_met)
    deadline = time.monotonic() + PROCESS_WAIT_SECONDS
    while not condition_met():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(PROCESS_POLL_SECONDS)


def worker_of(serve: subprocess.Popen[bytes]) -> int:
    found: list[int] = []

    def started() -> bool:
        found[:] = [
            pid
            for pid in children_of(serve.pid)
            if WORKER_MODULE in command_line(pid) and alive(pid)
        ]
        return bool(found)

    until(started, "the projection worker")
    assert len(found) == 1, found
    return found[0]


@contextmanager
def paused(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def record(base: str, ticket: int, quantity: int) -> int:
    status, answer = call(base, "POST", INTAKE, delivery(ticket, quantity=quantity))
    assert status == 201, answer
    return int(answer["position"])


def test_the_worker_applies_and_serve_waits_for_it(database_url: str) -> None:
    with serving_process(database_url) as (base, serve):
        worker = worker_of(serve)
        with paused(worker):
            position = record(base, 7, quantity=3)
            # Nothing in `serve` applies the log: with the worker paused, the read must lag.
            status, answer = call(base, "GET", f"/v1/tickets/7?minPosition={position}")
            assert (status, answer) == (503, {"error": "projection_lag"})
        status, answer = call(base, "GET", f"/v1/tickets/7?minPosition={position}")
        assert status == 200, answer
        assert answer["snapshot"]["quantity"] == 3
        # The other projections follow on their own steps: each reaches the position too.
        until(lambda: all_at(base, position), f"every projection at {position}")


def all_at(base: str, position: int) -> bool:
    status, projections = call(base, "GET", "/v1/projections")
    assert status == 200, projections
    assert {p["name"] for p in projections} == {"tickets", "history", "quantity", "sale_periods"}
    return all(p["position"] == position and p["state"] == "live" for p in projections)


def test_a_worker_that_dies_is_replaced_and_catches_up(database_url: str) -> None:
    with serving_process(database_url) as (base, serve):
        first = worker_of(serve)
        record(base, 7, quantity=1)
        os.kill(first, signal.SIGKILL)
        position = record(base, 7, quantity=2)
        status, answer = call(base, "GET", f"/v1/tickets/7?minPosition={position}")
        assert status == 200, answer
        assert answer["snapshot"]["quantity"] == 2
        assert worker_of(serve) != first
        # The new worker reports each projection as it opens it; all are soon live again.
        until(lambda: all_at(base, position), f"every projection at {position}")


def test_readiness_reports_a_lost_worker_but_stays_ready_for_deliveries(
    database_url: str,
) -> None:
    with serving_process(database_url) as (base, serve):
        worker = worker_of(serve)
        os.kill(worker, signal.SIGKILL)
        until(
            lambda: call(base, "GET", "/readyz") == (200, ready("failed")),
            "readiness to report the projections failed",
        )
        until(
            lambda: call(base, "GET", "/readyz") == (200, ready("live")),
            "a new worker to be live",
        )


def ready(projections: str) -> dict[str, str]:
    return {"status": "ready", "storage": "ok", "projections": projections}


def test_the_worker_ends_with_serve_even_when_serve_is_killed(database_url: str) -> None:
    with serving_process(database_url) as (base, serve):
        worker = worker_of(serve)
        record(base, 7, quantity=1)
        serve.kill()
        serve.wait()
        until(lambda: not alive(worker), "the orphaned worker to exit")


def test_a_live_rebuild_runs_in_the_worker_and_switches_readers(database_url: str) -> None:
    with serving(database_url) as base:
        for quantity in range(5):
            position = record(base, 7, quantity=quantity)
        status, before = call(base, "GET", f"/v1/tickets/7/history?minPosition={position}")
        assert status == 200, before
        status, accepted = call(base, "POST", "/v1/projections/history/rebuild")
        assert (status, accepted) == (202, {"name": "history", "state": "rebuilding"})
        storage = ProjectionStores(DatabaseLocation.parse(database_url))
        try:
            until(lambda: storage.active_generation("history") == 2, "the new generation")
        finally:
            storage.close()

        def live_again() -> bool:
            status, projections = call(base, "GET", "/v1/projections")
            assert status == 200, projections
            history = next(p for p in projections if p["name"] == "history")
            return bool(history["state"] == "live" and history["position"] == position)

        until(live_again, "the rebuilt history to be live")
        status, after = call(base, "GET", f"/v1/tickets/7/history?minPosition={position}")
        assert (status, after) == (200, before)
        # No query in `serve` reads the replaced generation any longer: the worker drops it.
        until(lambda: not generation_exists(database_url, 1, "history"), "the old generation gone")


def test_a_stalled_worker_shows_as_stalled_and_is_replaced(database_url: str) -> None:
    with serving_process(database_url) as (base, serve):
        stalled = worker_of(serve)
        os.kill(stalled, signal.SIGSTOP)
        position = record(base, 7, quantity=1)

        def shown_stalled() -> bool:
            status, projections = call(base, "GET", "/v1/projections")
            assert status == 200, projections
            return any(p["state"] == "stalled" and p["lag"] > 0 for p in projections)

        until(shown_stalled, "the projections to show as stalled")
        until(lambda: not alive(stalled), "the stalled worker to be ended")
        assert worker_of(serve) != stalled
        status, answer = call(base, "GET", f"/v1/tickets/7?minPosition={position}")
        assert status == 200, answer
        until(lambda: all_at(base, position), f"every projection at {position}")
