"""`ticket-audit serve`: the only command that creates a log, and only where it is told to."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from pathlib import Path

import uvloop
from aiohttp import web

from service.logs import AccessLogger, access_logger, configure_logging
from service.settings import Settings
from service.storage_errors import STORAGE_ERRORS, StartupError, classify, listen_error, where
from service.web.app import create_app
from service.web.keys import PROJECTIONS

logger = logging.getLogger("ticket_audit")


def serve(settings: Settings) -> int:
    settings.check_exposure()
    listening = open_socket(settings.host, settings.port)
    created = make_log_place(settings)
    configure_logging(settings.log_format)
    # uvloop's event loop and HTTP parsing cost less CPU per request than asyncio's own.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = create_app(settings, projection_worker=True)
    app.on_startup.append(announce(settings, listening, created))
    try:
        web.run_app(
            app,
            sock=listening,
            print=None,
            access_log=access_logger(settings.access_log),
            access_log_class=AccessLogger,
            access_log_format=settings.access_log,
        )
    except STORAGE_ERRORS as error:
        raise classify(error, settings.database) from None
    return 0


def make_log_place(settings: Settings) -> str:
    """Where a new SQLite log may go: the data folder is made when the default log is used;
    an explicit path's folder must already exist, so a mistyped path creates nothing.

    Returns what was created, for the start line ("" when nothing was).
    """
    location = settings.database
    if location.kind != "sqlite":
        return ""
    log = Path(location.sqlite_path)
    folder = log.parent
    if folder.is_dir():
        return "" if log.exists() else f"a new log at {log}"
    if settings.database_url == settings.default_database_url and folder.parent.is_dir():
        folder.mkdir()
        return f"the data folder {folder} and a new log in it"
    raise StartupError(
        f"folder {folder} does not exist: create it (mkdir -p {folder}) "
        "or correct --database-url / TICKET_AUDIT_DATABASE_URL / TICKET_AUDIT_DATA_DIR",
        exit_code=2,
    )


def open_socket(host: str, port: int) -> socket.socket:
    """Bound before storage is touched, so a busy port is reported as such and creates nothing."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listening = socket.socket(family, kind, proto)
        try:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.bind(address)
            listening.listen(1024)
        except OSError:
            listening.close()
            raise
    except OSError as error:
        raise listen_error(error, host, port) from None
    return listening


def announce(
    settings: Settings, listening: socket.socket, created: str
) -> Callable[[web.Application], Awaitable[None]]:
    """The start line: everything an operator checks first, in one place."""

    async def started(app: web.Application) -> None:
        host, port = listening.getsockname()[:2]
        unset = settings.unset_tokens()
        projections = ", ".join(
            f"{row['name']} {row['state']} at {row['position']}/{row['head']}"
            + (f" ({row['parked']} parked)" if row.get("parked") else "")
            for row in await app[PROJECTIONS].status()
        )
        logger.info(
            "ticket-audit %s listening on http://%s:%s; log %s%s; tokens unset: %s; "
            "projections: %s",
            version("ticket-audit"),
            f"[{host}]" if ":" in host else host,
            port,
            where(settings.database),
            f" (created {created})" if created else "",
            ", ".join(unset) if unset else "none",
            projections or "none",
        )

    return started
