"""Deliveries per minute, from how far the log's head moved: it counts every recorded
delivery, whichever process recorded it (`serve`, another instance, `import`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator

from aiohttp import web

from projections.runtime.feed import log_head
from service.web.keys import LOG, READERS

SAMPLE_SECONDS = 10.0
WINDOW_SECONDS = 60.0
# Fewer seconds than this between two samples say too little to be called a rate.
SHORTEST_SPAN_SECONDS = 5.0


class DeliveryRate:
    def __init__(self) -> None:
        self._samples: deque[tuple[float, int]] = deque()

    def record(self, moment: float, head: int) -> None:
        self._samples.append((moment, head))
        while len(self._samples) > 1 and self._samples[1][0] <= moment - WINDOW_SECONDS:
            self._samples.popleft()

    def per_minute(self, moment: float, head: int) -> float | None:
        """Events recorded per minute over the last minute or so; None until measurable."""
        if not self._samples:
            return None
        then, earlier_head = self._samples[0]
        span = moment - then
        if span < SHORTEST_SPAN_SECONDS:
            return None
        return round(max(head - earlier_head, 0) * 60.0 / span, 1)


async def sample_the_head(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context: note the log's head every few seconds while the app runs."""
    rate = app[DELIVERY_RATE]

    async def sample() -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                head = await loop.run_in_executor(app[READERS], log_head, app[LOG])
            except Exception:
                head = None
            if head is not None:
                rate.record(time.monotonic(), head)
            await asyncio.sleep(SAMPLE_SECONDS)

    task = asyncio.create_task(sample(), name="console-delivery-rate")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


DELIVERY_RATE = web.AppKey("console_delivery_rate", DeliveryRate)
