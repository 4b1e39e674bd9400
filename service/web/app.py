"""The app factory: what the service is made of, in the order it opens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from projections.runtime.wakeups import LogSignal
from service import bootstrap
from service.console import setup_console
from service.metrics import Metrics
from service.settings import Settings
from service.signatures import SignatureVerifier
from service.web.errors import json_errors
from service.web.keys import (
    CIRCUIT,
    INTAKE,
    LAST_VERIFY,
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
from service.web.reading import release_reads
from service.web.routes import setup_routes
from service.web.verification import LastVerify

# Queries and admin reads share a bounded pool: the storage API is synchronous.
READER_THREADS = 8


def create_app(settings: Settings, projection_worker: bool = False) -> web.Application:
    """The service. With `projection_worker`, a child process applies the projections (what
    `serve` runs); without, this process applies them itself."""
    app = web.Application(
        middlewares=[json_errors, release_reads], client_max_size=settings.max_body_bytes
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[LOG_SIGNAL] = LogSignal()
    app[REBUILDS] = set[asyncio.Task[None]]()
    app[LAST_VERIFY] = LastVerify()
    app[SIGNATURES] = (
        SignatureVerifier.from_setting(settings.signing_secret.get_secret_value())
        if settings.signing_secret is not None
        else None
    )
    app.cleanup_ctx.append(reader_threads)
    app.cleanup_ctx.append(event_log)
    app.cleanup_ctx.append(intake_with_group_commit)
    app.cleanup_ctx.append(
        projections_in_a_worker if projection_worker else projections_following_the_log
    )
    setup_routes(app)
    setup_console(app)
    return app


async def reader_threads(app: web.Application) -> AsyncIterator[None]:
    app[READERS] = ThreadPoolExecutor(max_workers=READER_THREADS, thread_name_prefix="reader")
    yield
    app[READERS].shutdown(wait=True)


async def event_log(app: web.Application) -> AsyncIterator[None]:
    async with bootstrap.opened_log(app[SETTINGS].database) as log:
        app[LOG] = log
        yield


async def intake_with_group_commit(app: web.Application) -> AsyncIterator[None]:
    async with bootstrap.opened_write_side(
        app[SETTINGS], app[LOG], app[METRICS], app[READERS], on_commit=app[LOG_SIGNAL].notify
    ) as write_side:
        app[INTAKE] = write_side.intake
        app[QUARANTINE] = write_side.quarantine
        app[CIRCUIT] = write_side.circuit
        yield


async def projections_following_the_log(app: web.Application) -> AsyncIterator[None]:
    async with bootstrap.applying_here(
        app[SETTINGS].database, app[LOG], app[LOG_SIGNAL], app[REBUILDS]
    ) as applier:
        app[PROJECTIONS] = applier
        yield


async def projections_in_a_worker(app: web.Application) -> AsyncIterator[None]:
    """The worker applies; this process observes its reports and answers from the tables."""
    async with bootstrap.applying_in_a_worker(app[SETTINGS], app[LOG], app[LOG_SIGNAL]) as observer:
        app[PROJECTIONS] = observer
        yield
