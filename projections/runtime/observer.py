"""The observer: `serve`'s view of read models that the worker process applies.

It applies nothing. It opens the generations that answer queries, mirrors the worker's
reports (generation, position, state) so that reads and `minPosition` see them, hands
rebuilds to the worker, and notices when the worker stops making progress.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from projections.read_model import TicketProjection
from projections.runtime.answering import (
    STALLED_AFTER_SECONDS,
    Answering,
    AnsweringProjections,
    State,
    open_projection,
)
from projections.runtime.log_reader import LogSource
from projections.store.generations import ProjectionStores
from service.storage_errors import STORAGE_ERRORS

logger = logging.getLogger(__name__)

# How often the observer looks for a stalled worker.
WATCH_SECONDS = 1.0
# An applier that has said nothing (no report, no heartbeat) this long is replaced. Longer than
# the stall itself, so the `stalled` state is seen before the replacement.
REPLACE_SILENT_AFTER_SECONDS = 15.0


class Observer(AnsweringProjections):
    def __init__(
        self,
        log: LogSource,
        stores: ProjectionStores,
        catalog: Mapping[str, type[TicketProjection]],
        delegate_rebuild: Callable[[str], None],
        release_generation: Callable[[str, int], None],
        replace_applier: Callable[[str], None],
        applier_silent_for: Callable[[], float],
    ) -> None:
        """`release_generation` tells the applier that no query here reads a replaced
        generation any longer; `replace_applier` asks for a new applier when this one
        stalls (with the reason)."""
        super().__init__(log, stores, catalog)
        self._delegate_rebuild = delegate_rebuild
        self._release_generation = release_generation
        self._replace_applier = replace_applier
        self._applier_silent_for = applier_silent_for
        self._stall_logged: set[str] = set()
        self._adopting: dict[str, asyncio.Task[None]] = {}
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._open_answering()
        self._watch = asyncio.create_task(self._watch_for_stalls(), name="stall-watch")

    async def stop(self) -> None:
        tasks = list(self._adopting.values())
        if self._watch is not None:
            tasks.append(self._watch)
        await self._stop_answering(tasks)

    def observe(self, name: str, generation: int, position: int, state: State, parked: int) -> None:
        """Take in the applier's report of one projection."""
        answering = self._answering.get(name)
        if answering is None:
            return
        if generation != answering.generation:
            if generation > answering.generation and name not in self._adopting:
                self._adopting[name] = asyncio.create_task(
                    self._adopt(answering, generation, position, state, parked),
                    name=f"adopt-{name}",
                )
            return
        answering.state = state
        answering.parked = parked
        self._advance(answering, position)

    def applier_lost(self) -> None:
        """The applying process is gone: nothing follows the log until it is back."""
        for answering in self._answering.values():
            answering.state = "failed"

    async def _adopt(
        self, answering: Answering, generation: int, position: int, state: State, parked: int
    ) -> None:
        """Answer from the generation the worker switched to; release the old one later."""
        loop = asyncio.get_running_loop()
        name = answering.name
        try:
            projection = await loop.run_in_executor(
                self._executor, open_projection, self._stores, self._catalog[name], generation
            )
        finally:
            del self._adopting[name]
        old = answering.projection
        answering.state = state
        self._switch(answering, projection, max(answering.position, position), parked)

        def close_and_release() -> None:
            old.view.close()
            self._release_generation(name, old.view.generation)

        self._retire(name, old.view.generation, close_and_release)

    async def rebuild(self, name: str) -> None:
        answering = self._answering[name]
        if answering.state == "rebuilding":
            return
        answering.state = "rebuilding"
        self._delegate_rebuild(name)

    async def _watch_for_stalls(self) -> None:
        """Log a projection that stalls, and replace the applier when it has also fallen
        silent: a worker that still answers is slow (starved of CPU at its low priority, or
        on a long batch), and a new one would only start over; one that says nothing for
        `REPLACE_SILENT_AFTER_SECONDS` is stopped or hung."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                head = await self.head()
            except STORAGE_ERRORS:
                continue  # an outage is not a stall; the applier reports it as failed
            now = loop.time()
            self._note_head(head, now)
            stalled = [
                answering.name
                for answering in self._answering.values()
                if answering.state == "live" and self._stalled(answering, head, now)
            ]
            for name in set(stalled) - self._stall_logged:
                logger.warning(
                    "projection %s stalled: lag %d, no progress for %.0f s",
                    name,
                    head - self._answering[name].position,
                    STALLED_AFTER_SECONDS,
                )
            for name in self._stall_logged - set(stalled):
                logger.info("projection %s moving again", name)
            self._stall_logged = set(stalled)
            silent = self._applier_silent_for()
            if stalled and silent > REPLACE_SILENT_AFTER_SECONDS:
                for answering in self._answering.values():
                    # A new applier starts from the tracked positions: give it time to report.
                    answering.progressed_at = now
                self._replace_applier(f"stalled and silent for {silent:.0f} s")
