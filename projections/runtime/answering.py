"""The read models as queries see them: which generation answers, how far it has applied the
log, its state, and who is reading it.

Two kinds of process answer queries. The `Applier` applies the log itself; the `Observer`
(in `serve`, beside the worker process) mirrors the worker's reports. Both hand out the
answering generation to readers, let `minPosition` wait for a position, and report status;
that shared part lives here.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from eventsourcing.persistence import IntegrityError

from projections.read_model import TicketProjection
from projections.runtime.feed import log_head
from projections.runtime.log_reader import LogSource
from projections.store.generations import ProjectionStores
from projections.store.parked import parked_count
from projections.store.views import ProjectionStore
from service.setup_lock import schema_setup

State = Literal["live", "rebuilding", "stalled", "failed"]

# What an applying process reports after each step, and an observing one takes in:
# name, generation, position, state, and how many events that generation has parked.
Report = Callable[[str, int, int, State, int], None]

# The contract's `stalled`: lag above zero and no progress for this long.
STALLED_AFTER_SECONDS = 10.0


def open_projection(
    stores: ProjectionStores, cls: type[TicketProjection], generation: int
) -> TicketProjection:
    projection = cls(stores.open_store(cls.name, generation))
    with schema_setup(stores.location):
        try:
            projection.create_tables()
        except IntegrityError:
            # Another process created the same SQLite tables at the same moment (the library
            # seeds its tracking table with a marker row); they exist now, so this passes.
            projection.create_tables()
    return projection


@dataclass
class Answering:
    """One read model as it answers: its generation, position, state and parked events."""

    name: str
    projection: TicketProjection
    position: int
    state: State = "live"
    parked: int = 0
    advanced: asyncio.Event = field(default_factory=asyncio.Event)
    # When the position last moved; with lag above zero, a long pause means a stall.
    progressed_at: float = field(default_factory=lambda: asyncio.get_running_loop().time())

    @property
    def generation(self) -> int:
        return self.projection.view.generation


class Readers:
    """How many queries read each generation, so a replaced one is retired only after the
    last query that took it before the switch has ended (a long `/v1/changes` stream too)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._idle: dict[tuple[str, int], asyncio.Event] = {}

    def take(self, name: str, generation: int) -> Callable[[], None]:
        key = (name, generation)
        self._counts[key] = self._counts.get(key, 0) + 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            remaining = self._counts[key] - 1
            if remaining:
                self._counts[key] = remaining
                return
            del self._counts[key]
            idle = self._idle.pop(key, None)
            if idle is not None:
                idle.set()

        return release

    async def until_idle(self, name: str, generation: int) -> None:
        key = (name, generation)
        if key in self._counts:
            await self._idle.setdefault(key, asyncio.Event()).wait()


class AnsweringProjections(ABC):
    def __init__(
        self,
        log: LogSource,
        stores: ProjectionStores,
        catalog: Mapping[str, type[TicketProjection]],
    ) -> None:
        self._log = log
        self._stores = stores
        self._catalog = catalog
        self._answering: dict[str, Answering] = {}
        self._readers = Readers()
        self._retiring: set[asyncio.Task[None]] = set()
        self._executor = ThreadPoolExecutor(
            max_workers=len(catalog) + 1, thread_name_prefix="projection"
        )
        # Not on the projections' threads: they may all be waiting on a lost database.
        self._status_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="status")

    async def _open_answering(self) -> None:
        loop = asyncio.get_running_loop()
        for name, cls in self._catalog.items():
            projection = await loop.run_in_executor(self._executor, self._open_active, name, cls)
            parked = await loop.run_in_executor(self._executor, parked_count, projection.view)
            self._answering[name] = Answering(
                name, projection, projection.view.tracked_position(), parked=parked
            )

    def _open_active(self, name: str, cls: type[TicketProjection]) -> TicketProjection:
        generation = self._stores.active_generation(name)
        if generation is None:
            generation = 1
            self._stores.activate(name, generation)
        return open_projection(self._stores, cls, generation)

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    async def rebuild(self, name: str) -> None:
        """Build a new generation from position 1; readers switch once it has caught up."""

    def names(self) -> list[str]:
        return list(self._catalog)

    def projection(self, name: str) -> TicketProjection:
        """The generation that answers queries now."""
        return self._answering[name].projection

    def take_for_reading(self, name: str) -> tuple[ProjectionStore, Callable[[], None]]:
        """The answering generation's store, and the call that says the query is done with it.
        Until every query that took a generation has released it, it is not retired."""
        answering = self._answering[name]
        return answering.projection.view, self._readers.take(name, answering.generation)

    def may_have_parked(self, view: ProjectionStore) -> bool:
        """Whether `view` (a generation taken for reading) may hold parked events: False
        only when it answers now and has parked none, so most reads need not look."""
        answering = self._answering[view.projection_name]
        return answering.parked > 0 or answering.generation != view.generation

    def parked_counts(self) -> dict[str, int]:
        return {name: answering.parked for name, answering in self._answering.items()}

    async def wait_for(self, position: int, names: Iterable[str], timeout: float) -> bool:
        """Until each named projection has applied `position`; False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                for name in names:
                    answering = self._answering[name]
                    while answering.position < position:
                        await answering.advanced.wait()
        except TimeoutError:
            return False
        return True

    async def head(self) -> int:
        return await asyncio.get_running_loop().run_in_executor(
            self._status_executor, log_head, self._log
        )

    async def status(self) -> list[dict[str, object]]:
        head = await self.head()
        now = asyncio.get_running_loop().time()
        self._note_head(head, now)
        return [
            {
                "name": name,
                "position": answering.position,
                "head": head,
                "lag": max(head - answering.position, 0),
                "parked": answering.parked,
                "state": self._shown_state(answering, head, now),
            }
            for name, answering in self._answering.items()
        ]

    def _shown_state(self, answering: Answering, head: int, now: float) -> State:
        if answering.state == "live" and self._stalled(answering, head, now):
            return "stalled"
        return answering.state

    def _note_head(self, head: int, now: float) -> None:
        """A projection at the head is not stalled, however long since it last moved: its
        stall clock starts when it is first seen behind."""
        for answering in self._answering.values():
            if answering.position >= head:
                answering.progressed_at = now

    @staticmethod
    def _stalled(answering: Answering, head: int, now: float) -> bool:
        return head > answering.position and now - answering.progressed_at > STALLED_AFTER_SECONDS

    def all_live(self) -> bool:
        return all(answering.state != "failed" for answering in self._answering.values())

    def _advance(self, answering: Answering, position: int) -> None:
        if position > answering.position:
            answering.position = position
            answering.progressed_at = asyncio.get_running_loop().time()
        self._wake_waiters(answering)

    def _wake_waiters(self, answering: Answering) -> None:
        answering.advanced.set()
        answering.advanced = asyncio.Event()

    def _switch(
        self, answering: Answering, projection: TicketProjection, position: int, parked: int
    ) -> None:
        """Answer from `projection` from now on."""
        answering.projection = projection
        answering.position = position
        answering.parked = parked
        answering.progressed_at = asyncio.get_running_loop().time()
        self._wake_waiters(answering)

    def _retire(
        self,
        name: str,
        generation: int,
        finish: Callable[[], None],
        released: Awaitable[None] | None = None,
    ) -> None:
        """Finish with a replaced generation once the queries that took it are done (or, with
        `released`, once that says so).

        When the service stops first, finish at once rather than leave it behind: the
        queries end with the service.
        """

        async def after_readers() -> None:
            try:
                await (released or self._readers.until_idle(name, generation))
            finally:
                await asyncio.get_running_loop().run_in_executor(self._executor, finish)

        retiring = asyncio.create_task(after_readers(), name=f"retire-{name}-g{generation}")
        self._retiring.add(retiring)
        retiring.add_done_callback(self._retiring.discard)

    async def _stop_answering(self, tasks: list[asyncio.Task[None]]) -> None:
        tasks = [*tasks, *self._retiring]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._executor.shutdown(wait=True)
        self._status_executor.shutdown(wait=True)
        for answering in self._answering.values():
            answering.projection.view.close()
