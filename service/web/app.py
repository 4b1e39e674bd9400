"""The app factory: what the service is made of, in the order it opens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from projections.catalog import CATALOG
from projections.runtime.leadership import open_leadership
from projections.runtime.live import LiveProjections, State, stop_applying
from projections.runtime.wakeups import LogSignal, listen_for_commits
from projections.runtime.worker_client import ProjectionWorker
from projections.store.generations import ProjectionStorage
from service.committer import GroupCommitter
from service.intake import Intake
from service.metrics import Metrics
from service.quarantine import open_quarantine
from service.settings import Settings
from service.signatures import SignatureVerifier
from service.storage import open_log
from service.web.errors import json_errors
from service.web.keys import (
    INTAKE,
    LOG,
    LOG_SIGNAL,
    METRICS,
    PROJECTIONS,
    QUARANTINE,
    READERS,
    REBUILDS,
    SETTINGS,
    SIGNATURES,
)
from service.web.routes import setup_routes

# Queries and admin reads share a bounded pool: the storage API is synchronous.
READER_THREADS = 8


def create_app(settings: Settings, projection_worker: bool = False) -> web.Application:
    """The service. With `projection_worker`, a child process applies the projections (what
    `serve` runs); without, this process applies them itself."""
    app = web.Application(middlewares=[json_errors], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[LOG_SIGNAL] = LogSignal()
    app[REBUILDS] = set[asyncio.Task[None]]()
    app[SIGNATURES] = (
        SignatureVerifier.from_setting(settings.signing_secret.get_secret_value())
        if settings.signing_secret is not None
        else None
    )
    app.cleanup_ctx.append(reader_threads)
    app.cleanup_ctx.append(event_log)
    app.cleanup_ctx.append(quarantine_store)
    app.cleanup_ctx.append(intake_with_group_commit)
    app.cleanup_ctx.append(
        projections_in_a_worker if projection_worker else projections_following_the_log
    )
    setup_routes(app)
    return app


async def reader_threads(app: web.Application) -> AsyncIterator[None]:
    app[READERS] = ThreadPoolExecutor(max_workers=READER_THREADS, thread_name_prefix="reader")
    yield
    app[READERS].shutdown(wait=True)


async def event_log(app: web.Application) -> AsyncIterator[None]:
    location = app[SETTINGS].database
    app[LOG] = await asyncio.get_running_loop().run_in_executor(None, open_log, location)
    yield
    app[LOG].close()


async def quarantine_store(app: web.Application) -> AsyncIterator[None]:
    app[QUARANTINE] = open_quarantine(app[SETTINGS].database)
    yield
    app[QUARANTINE].close()


async def intake_with_group_commit(app: web.Application) -> AsyncIterator[None]:
    metrics = app[METRICS]
    signal = app[LOG_SIGNAL]

    def committed(batch_size: int) -> None:
        metrics.commit_batch_size.observe(batch_size)
        signal.notify()

    committer = GroupCommitter(app[LOG].record_deliveries, on_batch=committed)
    await committer.start()
    settings = app[SETTINGS]
    app[INTAKE] = Intake(
        committer,
        app[QUARANTINE],
        app[READERS],
        settings.zone,
        settings.max_body_bytes,
        metrics,
    )
    yield
    await committer.stop()


async def projections_following_the_log(app: web.Application) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    location = app[SETTINGS].database
    storage = await loop.run_in_executor(None, ProjectionStorage, location)
    leadership = open_leadership(location)
    live = LiveProjections(app[LOG], storage, CATALOG, app[LOG_SIGNAL], leadership)
    await live.start()
    app[PROJECTIONS] = live
    listener = listen_for_commits(location, app[LOG], app[LOG_SIGNAL])
    yield
    await stop_applying(live, app[REBUILDS], listener, leadership, storage)


async def projections_in_a_worker(app: web.Application) -> AsyncIterator[None]:
    """The worker applies; this process observes its reports and answers from the tables."""
    settings = app[SETTINGS]
    storage = await asyncio.get_running_loop().run_in_executor(
        None, ProjectionStorage, settings.database
    )

    # The worker and the observer refer to each other: reports go to the observer, and the
    # observer hands rebuilds to the worker.
    def observe(name: str, generation: int, position: int, state: State) -> None:
        live.observe(name, generation, position, state)

    def lost() -> None:
        live.applier_lost()

    worker = ProjectionWorker(settings.database_url, on_report=observe, on_lost=lost)
    live = LiveProjections(
        app[LOG], storage, CATALOG, app[LOG_SIGNAL], None, delegate_rebuild=worker.rebuild
    )
    await live.start()
    app[PROJECTIONS] = live
    await worker.start()
    app[LOG_SIGNAL].subscribe(worker.wake)
    yield
    await worker.stop()
    await live.stop()
    storage.close()
