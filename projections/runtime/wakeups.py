"""Waking projection followers when the log grows, instead of polling blindly.

In-process commits notify directly; other processes' commits arrive by LISTEN/NOTIFY on
PostgreSQL; SQLite has no notifications, so followers there also poll on a short interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import cast

import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from projections.runtime.log_reader import LogSource
from service.database import connect
from service.settings import DatabaseLocation
from service.storage_errors import storage_error_cause

logger = logging.getLogger(__name__)

# How long the listener waits for a notification before checking whether it should stop.
LISTEN_TIMEOUT_SECONDS = 0.2


class LogSignal:
    """A broadcast: every waiter holding the current round wakes at the next `notify`, and
    every subscriber (such as the link to the projection worker) is called."""

    def __init__(self) -> None:
        self._round = asyncio.Event()
        self._subscribers: list[Callable[[], None]] = []

    def current(self) -> asyncio.Event:
        return self._round

    def subscribe(self, subscriber: Callable[[], None]) -> None:
        self._subscribers.append(subscriber)

    def notify(self) -> None:
        self._round.set()
        self._round = asyncio.Event()
        for subscriber in self._subscribers:
            subscriber()


async def wait_round(round_: asyncio.Event, timeout: float) -> None:
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
    # arrives together with the wake-up, and the follower would never stop.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await round_.wait()


class PostgresListener:
    """A thread that LISTENs for the library's commit notifications and relays them."""

    def __init__(
        self,
        location: DatabaseLocation,
        channel: str,
        signal: LogSignal,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._location = location
        self._channel = channel
        self._signal = signal
        self._loop = loop
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        lost = False
        while not self._stopping.is_set():
            try:
                with connect(self._location, "listener") as conn:
                    conn.execute(SQL("LISTEN {0}").format(Identifier(self._channel)))
                    if lost:
                        logger.info("log listener listening again")
                        lost = False
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=LISTEN_TIMEOUT_SECONDS, stop_after=1):
                            self._loop.call_soon_threadsafe(self._signal.notify)
            except psycopg.Error as error:
                # One line per loss, not one per reconnection attempt.
                if not lost:
                    cause = storage_error_cause(error)
                    logger.warning("log listener lost its connection: %s; reconnecting", cause)
                    lost = True
                self._stopping.wait(1.0)


def listen_for_commits(
    location: DatabaseLocation, log: LogSource, signal: LogSignal
) -> PostgresListener | None:
    """On PostgreSQL, relay every process's commits to `signal`; None on SQLite."""
    if location.kind != "postgres":
        return None
    # The library notifies on a channel named after its events table.
    channel = cast(PostgresApplicationRecorder, log.recorder).channel_name
    listener = PostgresListener(location, channel, signal, asyncio.get_running_loop())
    listener.start()
    return listener
