"""Group commit: deliveries that arrive while a write is in flight share the next transaction.

The log takes one exclusive lock per write, so racing writers only queue on the database.
One writer thread drains everything waiting into a single `record_deliveries` call instead:
per-ticket order is arrival order, and each answer is given only after its commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from service.application import Outcome
from service.domain import DeliveryFacts
from service.storage_errors import STORAGE_ERRORS

logger = logging.getLogger(__name__)

MAX_BATCH = 500


class StorageUnavailable(Exception):
    """The log could not be written; nothing of the batch was committed."""


RecordBatch = Callable[[Sequence[DeliveryFacts]], list[Outcome]]
_Pending = tuple[DeliveryFacts, "asyncio.Future[Outcome]"]


class GroupCommitter:
    def __init__(
        self,
        record_batch: RecordBatch,
        on_batch: Callable[[int], None] = lambda size: None,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._record_batch = record_batch
        self._on_batch = on_batch
        self._max_batch = max_batch
        # A plain deque and one wake-up event: an asyncio.Queue costs a coroutine and its
        # waiter bookkeeping per delivery, where only the writer ever waits.
        self._waiting: deque[_Pending] = deque()
        self._arrived = asyncio.Event()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="log-writer")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._writer.shutdown(wait=True)

    async def submit(self, delivery: DeliveryFacts) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((delivery, future))
        self._arrived.set()
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        waiting = self._waiting
        while True:
            if not waiting:
                self._arrived.clear()
                await self._arrived.wait()
            batch = [waiting.popleft() for _ in range(min(len(waiting), self._max_batch))]
            deliveries = [delivery for delivery, _ in batch]
            try:
                outcomes = await loop.run_in_executor(self._writer, self._record_batch, deliveries)
            except STORAGE_ERRORS as error:
                logger.warning(
                    "log write failed for %d deliveries: %s", len(batch), type(error).__name__
                )
                for _, future in batch:
                    if not future.done():
                        future.set_exception(StorageUnavailable())
                continue
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            self._on_batch(len(batch))
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)
