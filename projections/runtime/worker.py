"""The projection worker: the process `serve` starts to apply the projections, so that
applying them never competes with intake and queries for the service's interpreter lock.

    python -m projections.runtime.worker      (TICKET_AUDIT_DATABASE_URL names the log)

It runs the same `LiveProjections` that would otherwise run inside `serve`, and speaks with
its parent in JSON lines. On stdin: `{"wake": true}` after the parent committed deliveries,
`{"rebuild": NAME}` for a live rebuild. On stdout: after every step and change of state,
`{"name", "generation", "position", "state"}` for one projection. It stops when stdin
closes, so it never outlives its parent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable

import orjson

from projections.catalog import CATALOG
from projections.runtime.leadership import open_leadership
from projections.runtime.live import LiveProjections, State, stop_applying
from projections.runtime.wakeups import LogSignal, listen_for_commits
from projections.store.generations import ProjectionStorage
from service.settings import DatabaseLocation
from service.storage import open_log

logger = logging.getLogger(__name__)

DATABASE_VARIABLE = "TICKET_AUDIT_DATABASE_URL"
# Intake's 201 waits on a commit; a read model only has to catch up. When the cores are all
# busy (a burst of deliveries), the scheduler should favour `serve`: the worker catches up
# once the burst is over, and `minPosition` lets a reader wait for it.
NICENESS = 19
# How long a projection that caught up waits before its next step (see LiveProjections): the
# read models trail a burst by about this much, and apply it at half the CPU per event.
PACE_SECONDS = 0.1


def encode_report(name: str, generation: int, position: int, state: State) -> bytes:
    report = {"name": name, "generation": generation, "position": position, "state": state}
    return orjson.dumps(report) + b"\n"


async def run_worker(
    location: DatabaseLocation, commands: asyncio.StreamReader, write: Callable[[bytes], None]
) -> None:
    """Apply every projection until `commands` ends, reporting each step through `write`."""
    loop = asyncio.get_running_loop()
    log = await loop.run_in_executor(None, open_log, location)
    storage = await loop.run_in_executor(None, ProjectionStorage, location)
    leadership = open_leadership(location)
    signal = LogSignal()

    def report(name: str, generation: int, position: int, state: State) -> None:
        write(encode_report(name, generation, position, state))

    live = LiveProjections(
        log, storage, CATALOG, signal, leadership, report=report, pace_seconds=PACE_SECONDS
    )
    rebuilds: set[asyncio.Task[None]] = set()
    listener = None
    try:
        await live.start()
        live.report_all()
        listener = listen_for_commits(location, log, signal)
        async for line in commands:
            command = orjson.loads(line)
            if command.get("wake"):
                signal.notify()
            elif command.get("rebuild") in live.names():
                task = asyncio.create_task(live.rebuild(command["rebuild"]))
                rebuilds.add(task)
                task.add_done_callback(rebuilds.discard)
    finally:
        await stop_applying(live, rebuilds, listener, leadership, storage)
        log.close()


async def _main(location: DatabaseLocation) -> None:
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    out = sys.stdout.buffer

    def write(line: bytes) -> None:
        out.write(line)
        out.flush()

    await run_worker(location, commands, write)


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s worker %(name)s %(message)s"
    )
    try:
        location = DatabaseLocation.parse(os.environ[DATABASE_VARIABLE])
    except (KeyError, ValueError) as error:
        print(f"projection worker: {DATABASE_VARIABLE}: {error}", file=sys.stderr)
        return 2
    os.nice(NICENESS)
    try:
        asyncio.run(_main(location))
    except BrokenPipeError:
        # The parent is gone: nobody is left to report to.
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
