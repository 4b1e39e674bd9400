"""Screening an import's deliveries: in this process for a small file, in a process of its
own for a large one.

Screening (size, JSON, fields, the hashes that judge duplicates) is most of what a delivery
costs the import, and it holds the interpreter's lock: in the importing process it would take
turns with the writer. A process of its own screens the next batch while this one quarantines
and commits the one before, on another core. Small files are screened here, where starting
that process would cost more than it saves, and so is standard input, whose length is not
known before it is read.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import tzinfo
from types import TracebackType

from service.domain import DeliveryFacts
from service.intake import Refusal, screen

# Deliveries from which a file is screened apart: a few batches, enough to repay the process.
SCREEN_APART_FROM = 5_000

Screened = list[DeliveryFacts | Refusal]


def screen_bodies(bodies: Sequence[bytes], zone: tzinfo, max_body_bytes: int) -> Screened:
    """Each body screened as intake screens a posted one, in order."""
    return [screen(body, zone, max_body_bytes) for body in bodies]


class Screener:
    """Screens batches in order, here or in a process of its own (`apart`).

    The process is forked on entry, before the caller opens its log, quarantine or threads,
    so it inherits none of them.
    """

    def __init__(self, zone: tzinfo, max_body_bytes: int, *, apart: bool) -> None:
        self._zone = zone
        self._max_body_bytes = max_body_bytes
        self._apart = apart
        self._process: ProcessPoolExecutor | None = None

    def __enter__(self) -> Screener:
        if self._apart:
            self._process = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("fork")
            )
            # Started now, while this process has nothing open to hand down.
            self._process.submit(int).result()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.shutdown(cancel_futures=True)

    def screen(self, bodies: Sequence[bytes]) -> asyncio.Future[Screened]:
        """The batch's screening, started: done at once here, or under way in the process."""
        if self._process is None:
            done: asyncio.Future[Screened] = asyncio.get_running_loop().create_future()
            done.set_result(screen_bodies(bodies, self._zone, self._max_body_bytes))
            return done
        return asyncio.wrap_future(
            self._process.submit(screen_bodies, bodies, self._zone, self._max_body_bytes)
        )
