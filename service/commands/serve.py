"""`ticket-audit serve`."""

from __future__ import annotations

import asyncio
import logging
import sys

import uvloop
from aiohttp import web

from service.settings import Settings
from service.storage_errors import STORAGE_ERRORS
from service.web.app import create_app


def serve(settings: Settings) -> int:
    settings.check_exposure()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # uvloop's event loop and HTTP parsing cost less CPU per request than asyncio's own.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        web.run_app(
            create_app(settings, projection_worker=True),
            host=settings.host,
            port=settings.port,
            access_log=None,
            print=lambda message: print(message, file=sys.stderr, flush=True),
        )
    except STORAGE_ERRORS as error:
        print(
            f"ticket-audit: storage unavailable at start: {type(error).__name__}", file=sys.stderr
        )
        return 1
    return 0
