"""Projections following the log inside `serve`: status, read-your-writes, live rebuilds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from eventsourcing.persistence import IntegrityError

from projections.base import TicketProjection
from projections.follower import Follower, log_head
from projections.leadership import Leadership
from projections.signal import LogSignal, wait_round
from projections.storage import ProjectionStorage
from service.application import TicketAudit
from service.committer import STORAGE_ERRORS
from service.setup_lock import schema_setup

logger = logging.getLogger(__name__)

# SQLite has no notifications from other processes; Postgres polls too, as a safety net.
POLL_SECONDS = {"sqlite": 0.25, "postgres": 2.0}
# A standby reads the leader's tracked position this often, so read-your-writes stays quick.
STANDBY_POLL_SECONDS = 0.1
# How often a process checks whether another one switched a projection to a new generation.
GENERATION_CHECK_SECONDS = 2.0

State = Literal["live", "rebuilding", "failed"]

# A query takes the answering generation, then waits for a reader thread before it runs: a
# replaced generation stays readable this long after the switch so such queries still finish.
RETIRED_GENERATION_GRACE_SECONDS = 30.0


@dataclass
class _Running:
    name: str
    follower: Follower
    state: State = "live"
    leading: bool = False
    task: asyncio.Task[None] | None = None
    advanced: asyncio.Event = field(default_factory=asyncio.Event)
    generation_checked_at: float = 0.0

    @property
    def generation(self) -> int:
        return self.follower.projection.view.generation


def open_projection(
    storage: ProjectionStorage, cls: type[TicketProjection], generation: int
) -> TicketProjection:
    projection = cls(storage.open_store(cls.name, generation))
    with schema_setup(storage.location):
        try:
            projection.create_tables()
        except IntegrityError:
            # Another process created the same SQLite tables at the same moment (the library
            # seeds its tracking table with a marker row); they exist now, so this passes.
            projection.create_tables()
    return projection


class LiveProjections:
    def __init__(
        self,
        log: TicketAudit,
        storage: ProjectionStorage,
        catalog: Mapping[str, type[TicketProjection]],
        signal: LogSignal,
        leadership: Leadership,
    ) -> None:
        self._log = log
        self._leadership = leadership
        self._storage = storage
        self._catalog = catalog
        self._signal = signal
        self._poll = POLL_SECONDS[storage.location.kind]
        self._executor = ThreadPoolExecutor(
            max_workers=len(catalog) + 1, thread_name_prefix="projection"
        )
        self._running: dict[str, _Running] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._status_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="status")

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for name, cls in self._catalog.items():
            projection = await loop.run_in_executor(self._executor, self._open_active, name, cls)
            running = _Running(name, Follower(projection, self._log))
            self._running[name] = running
            self._keep_following(name, running)

    def _keep_following(self, name: str, running: _Running) -> None:
        if running.task is None or running.task.done():
            running.task = asyncio.create_task(self._follow(running), name=f"follow-{name}")

    def _open_active(self, name: str, cls: type[TicketProjection]) -> TicketProjection:
        generation = self._storage.active_generation(name)
        if generation is None:
            generation = 1
            self._storage.activate(name, generation)
        return open_projection(self._storage, cls, generation)

    async def stop(self) -> None:
        tasks = [running.task for running in self._running.values() if running.task]
        tasks.extend(self._retiring)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._executor.shutdown(wait=True)
        self._status_executor.shutdown(wait=True)
        for running in self._running.values():
            running.follower.projection.view.close()

    def projection(self, name: str) -> TicketProjection:
        """The generation that answers queries now."""
        return self._running[name].follower.projection

    def names(self) -> list[str]:
        return list(self._catalog)

    async def _follow(self, running: _Running) -> None:
        """Apply the log while this process leads the projection; otherwise track the leader."""
        loop = asyncio.get_running_loop()
        while True:
            round_ = self._signal.current()
            try:
                await self._adopt_switched_generation(running)
                if not running.leading:
                    running.leading = await loop.run_in_executor(
                        self._executor, self._leadership.try_lead, running.name, running.generation
                    )
                step = running.follower.step if running.leading else running.follower.refresh
                applied = await loop.run_in_executor(self._executor, step)
            except IntegrityError:
                # Another process recorded this position first: it leads now.
                await self._stand_by(running)
                continue
            except STORAGE_ERRORS as error:
                logger.warning("projection waiting for storage: %s", type(error).__name__)
                running.state = "failed" if running.state == "live" else running.state
                await wait_round(round_, self._poll * 4)
                continue
            except Exception:
                logger.exception("projection %s failed", running.follower.projection.name)
                running.state = "failed"
                raise
            if running.state == "failed":
                running.state = "live"
            if applied:
                self._wake_waiters(running)
            elif running.leading:
                await wait_round(round_, self._poll)
            else:
                await wait_round(round_, STANDBY_POLL_SECONDS)

    async def _stand_by(self, running: _Running) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            self._executor, self._leadership.resign, running.name, running.generation
        )
        running.leading = False
        await loop.run_in_executor(self._executor, running.follower.refresh)

    async def _adopt_switched_generation(self, running: _Running) -> None:
        """Follow the generation another process's rebuild switched readers to."""
        loop = asyncio.get_running_loop()
        if running.state == "rebuilding" or loop.time() - running.generation_checked_at < (
            GENERATION_CHECK_SECONDS
        ):
            return
        running.generation_checked_at = loop.time()
        active = await loop.run_in_executor(
            self._executor, self._storage.active_generation, running.name
        )
        if active is None or active == running.generation:
            return
        projection = await loop.run_in_executor(
            self._executor, open_projection, self._storage, self._catalog[running.name], active
        )
        await loop.run_in_executor(
            self._executor, self._leadership.resign, running.name, running.generation
        )
        running.follower = Follower(projection, self._log)
        running.leading = False
        self._wake_waiters(running)

    @staticmethod
    def _wake_waiters(running: _Running) -> None:
        running.advanced.set()
        running.advanced = asyncio.Event()

    async def wait_for(self, position: int, names: Iterable[str], timeout: float) -> bool:
        """Until each named projection has applied `position`; False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                for name in names:
                    running = self._running[name]
                    while running.follower.position < position:
                        await running.advanced.wait()
        except TimeoutError:
            return False
        return True

    async def status(self) -> list[dict[str, object]]:
        # Not on the followers' threads: they may all be waiting on a lost database.
        head = await asyncio.get_running_loop().run_in_executor(
            self._status_executor, log_head, self._log
        )
        return [
            {
                "name": name,
                "position": running.follower.position,
                "head": head,
                "lag": max(head - running.follower.position, 0),
                "state": running.state,
            }
            for name, running in self._running.items()
        ]

    def all_live(self) -> bool:
        return all(running.state != "failed" for running in self._running.values())

    async def rebuild(self, name: str) -> None:
        """Build a new generation from position 1, then switch readers to it once caught up."""
        running = self._running[name]
        if running.state == "rebuilding":
            return
        running.state = "rebuilding"
        loop = asyncio.get_running_loop()
        try:
            old = running.follower.projection
            generation = old.view.generation + 1
            leads = await loop.run_in_executor(
                self._executor, self._leadership.try_lead, name, generation
            )
            if not leads:
                logger.warning("another process is already rebuilding %s", name)
                running.state = "live"
                return
            fresh = await loop.run_in_executor(
                self._executor, open_projection, self._storage, self._catalog[name], generation
            )
            follower = Follower(fresh, self._log)
            await loop.run_in_executor(self._executor, follower.catch_up)
            if running.task is not None:
                running.task.cancel()
                await asyncio.gather(running.task, return_exceptions=True)
            # The old generation kept answering until now; close the last gap, then switch.
            await loop.run_in_executor(self._executor, follower.catch_up)
            await loop.run_in_executor(self._executor, self._storage.activate, name, generation)
            await loop.run_in_executor(
                self._executor, self._leadership.resign, name, old.view.generation
            )
            running.follower = follower
            running.leading = True
            running.state = "live"
            self._keep_following(name, running)
            self._wake_waiters(running)
        except Exception:
            running.state = "failed"
            logger.exception("rebuild of %s failed", name)
            # Until a rebuild succeeds, the generation that answers must not fall behind.
            self._keep_following(name, running)
            raise
        retiring = asyncio.create_task(self._retire(old), name=f"retire-{name}")
        self._retiring.add(retiring)
        retiring.add_done_callback(self._retiring.discard)

    async def _retire(self, old: TicketProjection) -> None:
        """Drop a replaced generation once the queries that took it before the switch are done.

        When the service stops first, drop it at once rather than leave it behind: the
        queries end with the service.
        """
        try:
            await asyncio.sleep(RETIRED_GENERATION_GRACE_SECONDS)
        finally:
            await asyncio.get_running_loop().run_in_executor(self._executor, old.drop_tables)
