"""Projections following the log inside `serve`: status, read-your-writes, live rebuilds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from projections.base import TicketProjection
from projections.follower import Follower, log_head
from projections.signal import LogSignal, wait_round
from projections.storage import ProjectionStorage
from service.application import TicketAudit
from service.committer import STORAGE_ERRORS

logger = logging.getLogger(__name__)

# SQLite has no notifications from other processes; Postgres polls too, as a safety net.
POLL_SECONDS = {"sqlite": 0.25, "postgres": 2.0}

State = Literal["live", "rebuilding", "failed"]


@dataclass
class _Running:
    follower: Follower
    state: State = "live"
    task: asyncio.Task[None] | None = None
    advanced: asyncio.Event = field(default_factory=asyncio.Event)


def open_projection(
    storage: ProjectionStorage, cls: type[TicketProjection], generation: int
) -> TicketProjection:
    projection = cls(storage.open_store(cls.name, generation))
    projection.create_tables()
    return projection


class LiveProjections:
    def __init__(
        self,
        log: TicketAudit,
        storage: ProjectionStorage,
        catalog: Mapping[str, type[TicketProjection]],
        signal: LogSignal,
    ) -> None:
        self._log = log
        self._storage = storage
        self._catalog = catalog
        self._signal = signal
        self._poll = POLL_SECONDS[storage.location.kind]
        self._executor = ThreadPoolExecutor(
            max_workers=len(catalog) + 1, thread_name_prefix="projection"
        )
        self._running: dict[str, _Running] = {}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for name, cls in self._catalog.items():
            projection = await loop.run_in_executor(self._executor, self._open_active, name, cls)
            running = _Running(Follower(projection, self._log))
            self._running[name] = running
            running.task = asyncio.create_task(self._follow(running), name=f"follow-{name}")

    def _open_active(self, name: str, cls: type[TicketProjection]) -> TicketProjection:
        generation = self._storage.active_generation(name)
        if generation is None:
            generation = 1
            self._storage.activate(name, generation)
        return open_projection(self._storage, cls, generation)

    async def stop(self) -> None:
        tasks = [running.task for running in self._running.values() if running.task]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._executor.shutdown(wait=True)
        for running in self._running.values():
            running.follower.projection.view.close()

    def projection(self, name: str) -> TicketProjection:
        """The generation that answers queries now."""
        return self._running[name].follower.projection

    def names(self) -> list[str]:
        return list(self._catalog)

    async def _follow(self, running: _Running) -> None:
        loop = asyncio.get_running_loop()
        while True:
            round_ = self._signal.current()
            try:
                applied = await loop.run_in_executor(self._executor, running.follower.step)
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
            else:
                await wait_round(round_, self._poll)

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
        head = await asyncio.get_running_loop().run_in_executor(self._executor, log_head, self._log)
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
            running.follower = follower
            running.state = "live"
            running.task = asyncio.create_task(self._follow(running), name=f"follow-{name}")
            self._wake_waiters(running)
            await loop.run_in_executor(self._executor, old.drop_tables)
        except Exception:
            running.state = "failed"
            logger.exception("rebuild of %s failed", name)
            raise
