"""The app factory: what the service is made of, in the order it opens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from service.committer import GroupCommitter
from service.intake import Intake
from service.metrics import Metrics
from service.quarantine import open_quarantine
from service.settings import Settings
from service.signatures import SignatureVerifier
from service.storage import open_log
from service.web.errors import json_errors
from service.web.keys import INTAKE, LOG, METRICS, QUARANTINE, READERS, SETTINGS, SIGNATURES
from service.web.routes import setup_routes

# Queries and admin reads share a bounded pool: the storage API is synchronous.
READER_THREADS = 8


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[json_errors], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[SIGNATURES] = (
        SignatureVerifier.from_setting(settings.signing_secret.get_secret_value())
        if settings.signing_secret is not None
        else None
    )
    app.cleanup_ctx.append(reader_threads)
    app.cleanup_ctx.append(event_log)
    app.cleanup_ctx.append(quarantine_store)
    app.cleanup_ctx.append(intake_with_group_commit)
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
    committer = GroupCommitter(
        app[LOG].record_deliveries, on_batch=metrics.commit_batch_size.observe
    )
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
