"""Projections following the log for `serve`: status, read-your-writes, live rebuilds.

Either this process applies them (it leads, or stands by for another process that does), or
it only observes them: the projection worker that `serve` starts applies them and reports
each step, and this side keeps the answering generation, positions and states from those
reports.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from eventsourcing.persistence import IntegrityError

from projections.read_model import TicketProjection
from projections.runtime.feed import BATCH_SIZE, Follower, log_head
from projections.runtime.leadership import Leadership
from projections.runtime.wakeups import LogSignal, PostgresListener, wait_round
from projections.store.generations import ProjectionStorage
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

# What an applying process reports after each step, and an observing one takes in.
Report = Callable[[str, int, int, State], None]

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
    caught_up_at: float = float("-inf")

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
        leadership: Leadership | None,
        report: Report | None = None,
        delegate_rebuild: Callable[[str], None] | None = None,
        pace_seconds: float = 0.0,
    ) -> None:
        """With `leadership`, this process applies; without, it observes a worker's reports
        (`observe`) and hands rebuilds to that worker through `delegate_rebuild`.

        With `pace_seconds`, a projection that has caught up waits that long before its next
        step: in a burst of deliveries it then applies a few large batches instead of many
        small ones, which costs about half the CPU per event; after a quiet spell the first
        delivery is applied at once."""
        self._log = log
        self._leadership_or_none = leadership
        self._report = report
        self._delegate_rebuild = delegate_rebuild
        self._pace = pace_seconds
        self._storage = storage
        self._catalog = catalog
        self._signal = signal
        self._poll = POLL_SECONDS[storage.location.kind]
        self._executor = ThreadPoolExecutor(
            max_workers=len(catalog) + 1, thread_name_prefix="projection"
        )
        self._running: dict[str, _Running] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._adopting: dict[str, asyncio.Task[None]] = {}
        self._status_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="status")

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for name, cls in self._catalog.items():
            projection = await loop.run_in_executor(self._executor, self._open_active, name, cls)
            running = _Running(name, Follower(projection, self._log))
            self._running[name] = running
            if self.applies:
                self._keep_following(name, running)

    @property
    def applies(self) -> bool:
        return self._leadership_or_none is not None

    @property
    def _leadership(self) -> Leadership:
        assert self._leadership_or_none is not None, "an observing process never leads"
        return self._leadership_or_none

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
        tasks.extend(self._adopting.values())
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
                if running.leading:
                    await self._pace_after_catching_up(running)
                step = running.follower.step if running.leading else running.follower.refresh
                applied = await loop.run_in_executor(self._executor, step)
            except IntegrityError:
                # Another process recorded this position first: it leads now.
                await self._stand_by(running)
                continue
            except STORAGE_ERRORS as error:
                logger.warning("projection waiting for storage: %s", type(error).__name__)
                if running.state == "live":
                    self._set_state(running, "failed")
                await wait_round(round_, self._poll * 4)
                continue
            except Exception:
                logger.exception("projection %s failed", running.follower.projection.name)
                self._set_state(running, "failed")
                raise
            if running.state == "failed":
                self._set_state(running, "live")
            if applied:
                if running.leading and applied < BATCH_SIZE:
                    running.caught_up_at = loop.time()
                self._wake_waiters(running)
            elif running.leading:
                await wait_round(round_, self._poll)
            else:
                await wait_round(round_, STANDBY_POLL_SECONDS)

    async def _pace_after_catching_up(self, running: _Running) -> None:
        delay = running.caught_up_at + self._pace - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)

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

    def _wake_waiters(self, running: _Running) -> None:
        running.advanced.set()
        running.advanced = asyncio.Event()
        self._publish(running)

    def _set_state(self, running: _Running, state: State) -> None:
        if running.state != state:
            running.state = state
            self._publish(running)

    def _publish(self, running: _Running) -> None:
        if self._report is not None:
            self._report(running.name, running.generation, running.follower.position, running.state)

    def report_all(self) -> None:
        for running in self._running.values():
            self._publish(running)

    def observe(self, name: str, generation: int, position: int, state: State) -> None:
        """Take in an applying process's report of one projection."""
        running = self._running.get(name)
        if running is None:
            return
        if generation != running.generation:
            if generation > running.generation and name not in self._adopting:
                task = asyncio.create_task(
                    self._adopt(running, generation, position, state), name=f"adopt-{name}"
                )
                self._adopting[name] = task
            return
        running.state = state
        if position > running.follower.position:
            running.follower.position = position
        self._wake_waiters(running)

    def applier_lost(self) -> None:
        """The applying process is gone: nothing follows the log until it is back."""
        for running in self._running.values():
            running.state = "failed"

    async def _adopt(self, running: _Running, generation: int, position: int, state: State) -> None:
        """Answer from the generation the worker switched to; close the old one later."""
        loop = asyncio.get_running_loop()
        try:
            projection = await loop.run_in_executor(
                self._executor,
                open_projection,
                self._storage,
                self._catalog[running.name],
                generation,
            )
        finally:
            del self._adopting[running.name]
        old = running.follower.projection
        running.follower = Follower(projection, self._log)
        running.follower.position = max(running.follower.position, position)
        running.state = state
        self._wake_waiters(running)
        # The worker drops the old generation's tables; here only its store is closed.
        self._after_grace(old.view.close, f"close-{running.name}")

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
        if not self.applies:
            assert self._delegate_rebuild is not None
            running.state = "rebuilding"
            self._delegate_rebuild(name)
            return
        self._set_state(running, "rebuilding")
        loop = asyncio.get_running_loop()
        try:
            old = running.follower.projection
            generation = old.view.generation + 1
            leads = await loop.run_in_executor(
                self._executor, self._leadership.try_lead, name, generation
            )
            if not leads:
                logger.warning("another process is already rebuilding %s", name)
                self._set_state(running, "live")
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
            running.state = "live"  # published with the new generation just below
            self._keep_following(name, running)
            self._wake_waiters(running)
        except Exception:
            self._set_state(running, "failed")
            logger.exception("rebuild of %s failed", name)
            # Until a rebuild succeeds, the generation that answers must not fall behind.
            self._keep_following(name, running)
            raise
        self._after_grace(old.drop_tables, f"retire-{name}")

    def _after_grace(self, finish: Callable[[], None], task_name: str) -> None:
        """Finish with a replaced generation once the queries that took it before the switch
        are done.

        When the service stops first, finish at once rather than leave it behind: the
        queries end with the service.
        """

        async def after_grace() -> None:
            try:
                await asyncio.sleep(RETIRED_GENERATION_GRACE_SECONDS)
            finally:
                await asyncio.get_running_loop().run_in_executor(self._executor, finish)

        retiring = asyncio.create_task(after_grace(), name=task_name)
        self._retiring.add(retiring)
        retiring.add_done_callback(self._retiring.discard)


async def stop_applying(
    live: LiveProjections,
    rebuilds: set[asyncio.Task[None]],
    listener: PostgresListener | None,
    leadership: Leadership,
    storage: ProjectionStorage,
) -> None:
    """Shut down what a process runs to apply projections, rebuilds in flight first."""
    for task in rebuilds:
        task.cancel()
    await asyncio.gather(*rebuilds, return_exceptions=True)
    if listener is not None:
        await asyncio.get_running_loop().run_in_executor(None, listener.stop)
    await live.stop()
    leadership.close()
    storage.close()
