"""The applier: follows the log for every read model, leads it, and rebuilds it live.

One process at a time applies a projection's generation (see `leadership`); any other that
runs an applier stands by, tracking the leader's position, ready to take over. A live
rebuild builds a new generation beside the one answering and switches once it has caught up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from eventsourcing.persistence import IntegrityError

from projections.read_model import TicketProjection
from projections.runtime.answering import (
    Answering,
    AnsweringProjections,
    Report,
    State,
    open_projection,
)
from projections.runtime.feed import BATCH_SIZE, ProjectionFeed
from projections.runtime.leadership import Leadership
from projections.runtime.log_reader import LogSource
from projections.runtime.wakeups import LogSignal, PostgresListener, wait_round
from projections.store.generations import ProjectionStores
from service.storage_errors import STORAGE_ERRORS, storage_error_cause

logger = logging.getLogger(__name__)

# SQLite has no notifications from other processes; Postgres polls too, as a safety net.
POLL_SECONDS = {"sqlite": 0.25, "postgres": 2.0}
# A standby reads the leader's tracked position this often, so read-your-writes stays quick.
STANDBY_POLL_SECONDS = 0.1
# How often a process checks whether another one switched a projection to a new generation.
GENERATION_CHECK_SECONDS = 2.0
# How often a leader checks that it still holds its lock (lost with its database connection).
LEADERSHIP_CHECK_SECONDS = 1.0

# Waits until a replaced generation may be dropped: by default until this process's own
# readers are done with it; the worker waits for `serve` to say its readers are.
ReleasedBy = Callable[[str, int], Awaitable[None]]

Result = TypeVar("Result")


class Applier(AnsweringProjections):
    def __init__(
        self,
        log: LogSource,
        stores: ProjectionStores,
        catalog: Mapping[str, type[TicketProjection]],
        signal: LogSignal,
        leadership: Leadership,
        report: Report | None = None,
        pace_seconds: float = 0.0,
        released_by: ReleasedBy | None = None,
    ) -> None:
        """With `pace_seconds`, a projection that has caught up waits that long before its
        next step: in a burst of deliveries it then applies a few large batches instead of
        many small ones, which costs about half the CPU per event; after a quiet spell the
        first delivery is applied at once."""
        super().__init__(log, stores, catalog)
        self._signal = signal
        self._leadership = leadership
        self._report = report
        self._pace = pace_seconds
        self._released_by = released_by
        self._poll = POLL_SECONDS[stores.location.kind]
        self._feeds: dict[str, ProjectionFeed] = {}
        self._leading: set[str] = set()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._caught_up_at: dict[str, float] = {}
        self._generation_checked_at: dict[str, float] = {}
        self._leadership_checked_at: dict[str, float] = {}

    async def start(self) -> None:
        await self._open_answering()
        for name, answering in self._answering.items():
            self._feeds[name] = ProjectionFeed(answering.projection, self._log)
            self._keep_following(name)

    async def stop(self) -> None:
        await self._stop_answering(list(self._tasks.values()))

    def report_all(self) -> None:
        for answering in self._answering.values():
            self._publish(answering)

    def _keep_following(self, name: str) -> None:
        task = self._tasks.get(name)
        if task is None or task.done():
            self._tasks[name] = asyncio.create_task(self._follow(name), name=f"follow-{name}")

    async def _follow(self, name: str) -> None:
        """Apply the log while this process leads the projection; otherwise track the leader."""
        loop = asyncio.get_running_loop()
        answering = self._answering[name]
        while True:
            round_ = self._signal.current()
            try:
                await self._adopt_switched_generation(answering)
                feed = self._feeds[name]
                leading = await self._lead(answering)
                if leading:
                    await self._pace_after_catching_up(name)
                applied = await loop.run_in_executor(
                    self._executor, feed.step if leading else feed.refresh
                )
            except IntegrityError:
                # Another process recorded this position first: it leads now.
                await self._stand_by(answering)
                continue
            except STORAGE_ERRORS as error:
                # One line when it stops, one when it resumes: not one per retry.
                if answering.state != "failed":
                    cause = storage_error_cause(error)
                    logger.warning("projection %s waiting for storage: %s", name, cause)
                self._set_state(answering, "failed")
                await wait_round(round_, self._poll * 4)
                continue
            except Exception:
                logger.exception("projection %s failed", name)
                self._set_state(answering, "failed")
                raise
            if answering.state == "failed":
                logger.info("projection %s applying again", name)
                self._set_state(answering, "live")
            # The feed can be ahead of what this process answers at without having applied
            # anything here: it read the tracked position when it was made, and again when it
            # stood by, while the leader went on. Answering follows the feed, not the steps.
            if applied or feed.position > answering.position:
                answering.parked = feed.parked
                self._advance(answering, feed.position)
                self._publish(answering)
                if leading and 0 < applied < BATCH_SIZE:
                    self._caught_up_at[name] = loop.time()
            else:
                answering.progressed_at = loop.time()  # caught up: nothing to make progress on
                await wait_round(round_, self._poll if leading else STANDBY_POLL_SECONDS)

    async def _lead(self, answering: Answering) -> bool:
        await self._check_leadership(answering)
        if answering.name not in self._leading and await self._run(
            self._leadership.try_lead, answering.name, answering.generation
        ):
            self._leading.add(answering.name)
        return answering.name in self._leading

    async def _pace_after_catching_up(self, name: str) -> None:
        caught_up_at = self._caught_up_at.get(name, float("-inf"))
        delay = caught_up_at + self._pace - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _stand_by(self, answering: Answering) -> None:
        await self._run(self._leadership.resign, answering.name, answering.generation)
        self._leading.discard(answering.name)
        await self._run(self._feeds[answering.name].refresh)

    async def _adopt_switched_generation(self, answering: Answering) -> None:
        """Follow the generation another process's rebuild switched readers to."""
        name = answering.name
        now = asyncio.get_running_loop().time()
        if answering.state == "rebuilding" or (
            now - self._generation_checked_at.get(name, float("-inf")) < GENERATION_CHECK_SECONDS
        ):
            return
        self._generation_checked_at[name] = now
        active = await self._run(self._stores.active_generation, name)
        if active is None or active == answering.generation:
            return
        projection = await self._run(open_projection, self._stores, self._catalog[name], active)
        await self._run(self._leadership.resign, name, answering.generation)
        self._leading.discard(name)
        old = answering.projection
        feed = self._feeds[name] = ProjectionFeed(projection, self._log)
        self._switch(answering, projection, feed.position, feed.parked)
        # The process that rebuilt drops the old tables; here only the store is closed.
        self._retire(name, old.view.generation, old.view.close)

    async def rebuild(self, name: str) -> None:
        """Build a new generation from position 1, then switch readers to it once caught up."""
        answering = self._answering[name]
        if answering.state == "rebuilding":
            return
        self._set_state(answering, "rebuilding")
        old = answering.projection
        try:
            generation = old.view.generation + 1
            if not await self._run(self._leadership.try_lead, name, generation):
                logger.warning("another process is already rebuilding %s", name)
                self._set_state(answering, "live")
                return
            fresh = await self._run(open_projection, self._stores, self._catalog[name], generation)
            feed = ProjectionFeed(fresh, self._log)
            await self._run(feed.catch_up)
            following = self._tasks.get(name)
            if following is not None:
                following.cancel()
                await asyncio.gather(following, return_exceptions=True)
            # The old generation kept answering until now; close the last gap, then switch.
            await self._run(feed.catch_up)
            await self._run(self._stores.activate, name, generation)
        except Exception:
            self._set_state(answering, "failed")
            logger.exception("rebuild of %s failed", name)
            # Until a rebuild succeeds, the generation that answers must not fall behind.
            self._keep_following(name)
            raise
        # Switched in the record: answer from the new generation and retire the old one
        # before anything else can be interrupted.
        self._feeds[name] = feed
        self._leading.add(name)
        answering.state = "live"
        self._switch(answering, fresh, feed.position, feed.parked)
        self._publish(answering)
        self._keep_following(name)
        self._retire_replaced(name, old)
        await self._run(self._leadership.resign, name, old.view.generation)

    def _retire_replaced(self, name: str, old: TicketProjection) -> None:
        generation = old.view.generation
        released = None if self._released_by is None else self._released_by(name, generation)
        self._retire(name, generation, old.drop_tables, released)

    def _set_state(self, answering: Answering, state: State) -> None:
        if answering.state != state:
            answering.state = state
            self._publish(answering)

    def _publish(self, answering: Answering) -> None:
        if self._report is not None:
            self._report(
                answering.name,
                answering.generation,
                answering.position,
                answering.state,
                answering.parked,
            )

    async def _check_leadership(self, answering: Answering) -> None:
        """Stop applying once the lock is gone: another process may be applying by now."""
        name = answering.name
        now = asyncio.get_running_loop().time()
        if name not in self._leading or now - self._leadership_checked_at.get(name, 0.0) < (
            LEADERSHIP_CHECK_SECONDS
        ):
            return
        self._leadership_checked_at[name] = now
        if not await self._run(self._leadership.still_leads, name, answering.generation):
            self._leading.discard(name)
            logger.warning(
                "projection %s lost its leadership lock; stopped applying until it holds it again",
                name,
            )

    async def _run(self, call: Callable[..., Result], *args: object) -> Result:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call, *args)


async def stop_applying(
    applier: Applier,
    rebuilds: set[asyncio.Task[None]],
    listener: PostgresListener | None,
    leadership: Leadership,
    stores: ProjectionStores,
) -> None:
    """Shut down what a process runs to apply projections, rebuilds in flight first."""
    for task in rebuilds:
        task.cancel()
    await asyncio.gather(*rebuilds, return_exceptions=True)
    if listener is not None:
        await asyncio.get_running_loop().run_in_executor(None, listener.stop)
    await applier.stop()
    leadership.close()
    stores.close()
