"""The projection worker: the process `serve` starts to apply the read models, so that
applying them never competes with intake and queries for `serve`'s interpreter lock.

It runs an `Applier` and speaks with `serve` (its `WorkerClient`) in JSON lines. On stdin:
`{"wake": true}` after `serve` committed deliveries, `{"rebuild": NAME}` for a live rebuild,
`{"release": NAME, "generation": N}` once no query in `serve` reads a replaced generation any
longer (only then are its tables dropped). On stdout: after every step and change of state,
`{"name", "generation", "position", "state", "parked"}` for one projection; and
`{"alive": true}` every second, so that a slow worker can be told from a stopped or hung one.
It stops when stdin closes, so it never outlives `serve`. The process's entry point, which
opens the log, is `service.projection_worker`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import orjson

from projections.read_model import TicketProjection
from projections.runtime.answering import State
from projections.runtime.applier import Applier, stop_applying
from projections.runtime.leadership import open_leadership
from projections.runtime.log_reader import LogSource
from projections.runtime.wakeups import LogSignal, listen_for_commits
from projections.store.generations import ProjectionStores
from service.settings import DatabaseLocation

# How long a projection that caught up waits before its next step (see Applier): the read
# models trail a burst by about this much, and apply it at half the CPU per event.
PACE_SECONDS = 0.1
HEARTBEAT_SECONDS = 1.0
HEARTBEAT = b'{"alive":true}\n'


def encode_report(name: str, generation: int, position: int, state: State, parked: int) -> bytes:
    report = {
        "name": name,
        "generation": generation,
        "position": position,
        "state": state,
        "parked": parked,
    }
    return orjson.dumps(report) + b"\n"


class Releases:
    """Replaced generations waiting for `serve`'s word that no query reads them."""

    def __init__(self) -> None:
        self._waiting: dict[tuple[str, int], asyncio.Future[None]] = {}

    def _future(self, name: str, generation: int) -> asyncio.Future[None]:
        key = (name, generation)
        if key not in self._waiting:
            self._waiting[key] = asyncio.get_running_loop().create_future()
        return self._waiting[key]

    async def released(self, name: str, generation: int) -> None:
        try:
            await self._future(name, generation)
        finally:
            self._waiting.pop((name, generation), None)

    def release(self, name: str, generation: int) -> None:
        future = self._future(name, generation)
        if not future.done():
            future.set_result(None)


async def run_worker(
    log: LogSource,
    location: DatabaseLocation,
    catalog: Mapping[str, type[TicketProjection]],
    commands: asyncio.StreamReader,
    write: Callable[[bytes], None],
) -> None:
    """Apply every projection until `commands` ends, reporting each step through `write`."""
    loop = asyncio.get_running_loop()
    stores = await loop.run_in_executor(None, ProjectionStores, location)
    leadership = open_leadership(location)
    signal = LogSignal()
    releases = Releases()

    def report(name: str, generation: int, position: int, state: State, parked: int) -> None:
        write(encode_report(name, generation, position, state, parked))

    applier = Applier(
        log,
        stores,
        catalog,
        signal,
        leadership,
        report=report,
        pace_seconds=PACE_SECONDS,
        released_by=releases.released,
    )
    rebuilds: set[asyncio.Task[None]] = set()
    listener = None
    heartbeat: asyncio.Task[None] | None = None
    try:
        await applier.start()
        applier.report_all()
        listener = listen_for_commits(location, log, signal)
        heartbeat = asyncio.create_task(beat(write), name="heartbeat")
        async for line in commands:
            command = orjson.loads(line)
            if command.get("wake"):
                signal.notify()
            elif command.get("rebuild") in applier.names():
                task = asyncio.create_task(applier.rebuild(command["rebuild"]))
                rebuilds.add(task)
                task.add_done_callback(rebuilds.discard)
            elif command.get("release") in applier.names():
                releases.release(command["release"], int(command["generation"]))
    finally:
        if heartbeat is not None:
            heartbeat.cancel()
        await stop_applying(applier, rebuilds, listener, leadership, stores)


async def beat(write: Callable[[bytes], None]) -> None:
    """Say the worker's loop runs, even while no projection moves (see `Observer`)."""
    while True:
        write(HEARTBEAT)
        await asyncio.sleep(HEARTBEAT_SECONDS)
