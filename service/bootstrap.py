"""The composition root: what the service is made of, opened and closed in one place.

The web app, the `import` command and the projection worker process all open their parts
here, so each part is put together the same way everywhere and none of them needs aiohttp
to reach another. Each opener is an async context manager that closes what it opened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass

from projections.catalog import CATALOG
from projections.runtime.answering import State
from projections.runtime.applier import Applier, stop_applying
from projections.runtime.leadership import open_leadership
from projections.runtime.observer import Observer
from projections.runtime.wakeups import LogSignal, listen_for_commits
from projections.runtime.worker_client import WorkerClient
from projections.store.generations import ProjectionStores
from service.application import TicketAudit
from service.committer import GroupCommitter, QueueBounds
from service.intake import Intake
from service.metrics import Metrics
from service.quarantine import QuarantineStore, QuarantineUnavailable, open_quarantine
from service.settings import DatabaseLocation, Settings
from service.storage import open_log
from service.storage_circuit import StorageCircuit

logger = logging.getLogger(__name__)


@asynccontextmanager
async def opened_log(location: DatabaseLocation) -> AsyncIterator[TicketAudit]:
    log = await asyncio.get_running_loop().run_in_executor(None, open_log, location)
    try:
        yield log
    finally:
        log.close()


@asynccontextmanager
async def opened_quarantine(settings: Settings) -> AsyncIterator[QuarantineStore]:
    quarantine = open_quarantine(settings.database, settings.quarantine_max_rows)
    try:
        yield quarantine
    finally:
        quarantine.close()


@dataclass(frozen=True)
class WriteSide:
    """Everything a delivery passes through: the intake, its group commit and quarantine,
    and the circuit that refuses deliveries while storage is down."""

    intake: Intake
    quarantine: QuarantineStore
    circuit: StorageCircuit


@asynccontextmanager
async def opened_write_side(
    settings: Settings,
    log: TicketAudit,
    metrics: Metrics,
    quarantine_executor: Executor,
    on_commit: Callable[[], None] = lambda: None,
) -> AsyncIterator[WriteSide]:
    """The intake in front of `log`; `on_commit` runs after each committed batch."""
    quarantine = open_quarantine(settings.database, settings.quarantine_max_rows)
    try:
        # The dropped count is kept in storage; read it now so /metrics shows it from the start.
        await asyncio.get_running_loop().run_in_executor(
            quarantine_executor, quarantine.load_dropped
        )
    except QuarantineUnavailable:
        logger.warning("quarantine unavailable at start; its dropped count shows once it is back")
    metrics.quarantine_dropped.set_function(lambda: quarantine.dropped)

    def committed(batch_size: int) -> None:
        metrics.commit_batch_size.observe(batch_size)
        on_commit()

    recorder = log.chained_recorder
    # Connections opened before an outage are dead after it: replace them before writing.
    circuit = StorageCircuit(recorder.probe_write, on_closed=recorder.renew_connections)
    bounds = QueueBounds(settings.intake_queue_deliveries, settings.intake_queue_bytes)
    committer = GroupCommitter(log.record_deliveries, circuit, bounds, on_batch=committed)
    metrics.intake_waiting.set_function(lambda: committer.waiting)
    metrics.intake_writing.set_function(lambda: committer.writing)
    metrics.storage_down.set_function(lambda: circuit.is_open)
    await committer.start()
    intake = Intake(
        committer,
        quarantine,
        quarantine_executor,
        settings.zone,
        settings.max_body_bytes,
    )
    try:
        yield WriteSide(intake, quarantine, circuit)
    finally:
        await committer.stop()
        await circuit.stop()
        quarantine.close()


@asynccontextmanager
async def applying_here(
    location: DatabaseLocation,
    log: TicketAudit,
    signal: LogSignal,
    rebuilds: set[asyncio.Task[None]],
) -> AsyncIterator[Applier]:
    """This process applies the read models (and answers from them)."""
    stores = await asyncio.get_running_loop().run_in_executor(None, ProjectionStores, location)
    leadership = open_leadership(location)
    applier = Applier(log, stores, CATALOG, signal, leadership)
    await applier.start()
    listener = listen_for_commits(location, log, signal)
    try:
        yield applier
    finally:
        await stop_applying(applier, rebuilds, listener, leadership, stores)


@asynccontextmanager
async def applying_in_a_worker(
    settings: Settings, log: TicketAudit, signal: LogSignal
) -> AsyncIterator[Observer]:
    """A worker process applies the read models; this process observes and answers."""
    stores = await asyncio.get_running_loop().run_in_executor(
        None, ProjectionStores, settings.database
    )

    # The client and the observer refer to each other: reports go to the observer, and the
    # observer hands rebuilds, releases and replacements to the client.
    def report(name: str, generation: int, position: int, state: State, parked: int) -> None:
        observer.observe(name, generation, position, state, parked)

    def lost() -> None:
        observer.applier_lost()

    worker = WorkerClient(settings.database_url, on_report=report, on_lost=lost)
    observer = Observer(
        log,
        stores,
        CATALOG,
        delegate_rebuild=worker.rebuild,
        release_generation=worker.release,
        replace_applier=worker.replace,
        applier_silent_for=worker.silent_for,
    )
    await observer.start()
    await worker.start()
    signal.subscribe(worker.wake)
    try:
        yield observer
    finally:
        await worker.stop()
        await observer.stop()
        stores.close()
