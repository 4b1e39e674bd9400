"""The write side's circuit: open once a write fails for storage, closed again by a probe.

While it is open, deliveries are answered 503 at once instead of each waiting for storage
to fail again; a background probe makes one cheap write-capable round trip every
PROBE_INTERVAL_SECONDS and closes the circuit as soon as one succeeds. Each change of
state is one log line naming the cause.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from service.storage_errors import STORAGE_ERRORS, storage_error_cause

logger = logging.getLogger(__name__)

# Storage back is noticed within this (plus one probe's round trip).
PROBE_INTERVAL_SECONDS = 0.2
# A probe that hangs (an unreachable host) is abandoned after this and tried again.
PROBE_TIMEOUT_SECONDS = 5.0


class StorageCircuit:
    def __init__(
        self,
        probe_write: Callable[[], None],
        on_closed: Callable[[], None],
    ) -> None:
        """`probe_write` raises a storage error unless a write would be taken now;
        `on_closed` runs in the probe's thread once storage is back (to renew connections)."""
        self._probe_write = probe_write
        self._on_closed = on_closed
        self._prober = ThreadPoolExecutor(max_workers=1, thread_name_prefix="storage-probe")
        self._cause: str | None = None
        self._opened_at = 0.0
        self._probing: asyncio.Task[None] | None = None

    @property
    def is_open(self) -> bool:
        return self._cause is not None

    @property
    def cause(self) -> str | None:
        """Why storage is down, while the circuit is open."""
        return self._cause

    def open(self, error: BaseException) -> None:
        """A write failed for storage: refuse deliveries until the probe succeeds."""
        if self._cause is not None:
            return
        self._cause = storage_error_cause(error)
        self._opened_at = time.monotonic()
        self._probing = asyncio.create_task(self._probe_until_back(), name="storage-probe")

    def _open_after_probe(self, error: BaseException) -> None:
        self._cause = storage_error_cause(error)
        self._opened_at = time.monotonic()
        logger.warning("storage down: %s; deliveries refused until it is back", self._cause)
        self._probing = asyncio.create_task(
            self._probe_until_back(announced=True), name="storage-probe"
        )

    async def check(self) -> bool:
        """Whether storage takes writes now, by one probe; a failure opens the circuit."""
        if self._cause is not None:
            return False
        try:
            await self._probe_once()
        except STORAGE_ERRORS as error:
            if self._cause is None:
                self._open_after_probe(error)
            return False
        return True

    async def stop(self) -> None:
        if self._probing is not None:
            self._probing.cancel()
            await asyncio.gather(self._probing, return_exceptions=True)
        self._prober.shutdown(wait=True)

    async def _probe_once(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                await loop.run_in_executor(self._prober, self._probe_write)
        except TimeoutError as error:
            raise ConnectionError("storage did not answer a write probe in time") from error

    async def _probe_until_back(self, *, announced: bool = False) -> None:
        """Probe every interval until storage is back. Unless a probe already failed
        (`announced`), the first probe runs at once and its cause is the one logged: often
        plainer than the failed write's (a refused connection, not a pool that timed out)."""
        loop = asyncio.get_running_loop()
        if announced:
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)
        while True:
            try:
                await self._probe_once()
                await loop.run_in_executor(self._prober, self._on_closed)
            except STORAGE_ERRORS as error:
                cause = storage_error_cause(error)
                if not announced:
                    logger.warning("storage down: %s; deliveries refused until it is back", cause)
                    announced = True
                elif cause != self._cause:
                    logger.warning("storage still down, now: %s", cause)
                self._cause = cause
                await asyncio.sleep(PROBE_INTERVAL_SECONDS)
                continue
            down_for = time.monotonic() - self._opened_at
            if announced:
                logger.info("storage back after %.1f s; taking deliveries again", down_for)
            else:
                logger.warning("a write failed (%s); the next probe write passed", self._cause)
            self._cause = None
            self._probing = None
            return
