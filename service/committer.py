"""Group commit: deliveries that arrive while a write is in flight share the next transaction.

The log takes one exclusive lock per write, so racing writers only queue on the database.
One writer thread drains everything waiting into a single `record_deliveries` call instead:
per-ticket order is arrival order, and each answer is given only after its commit.

What waits is bounded, in deliveries and in bytes, and nothing waits on storage known to be
down (see `StorageCircuit`): both are refused at once, for the sender to retry.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from service.application import Outcome
from service.domain import DeliveryFacts
from service.storage_circuit import StorageCircuit
from service.storage_errors import STORAGE_ERRORS

MAX_BATCH = 500


class StorageUnavailable(Exception):
    """The log could not be written; nothing of the batch was committed."""


class QueueFull(Exception):
    """More deliveries (or bytes) wait for the writer than the intake queue holds."""


@dataclass(frozen=True)
class QueueBounds:
    deliveries: int
    bytes: int


RecordBatch = Callable[[Sequence[DeliveryFacts]], list[Outcome]]
_Pending = tuple[DeliveryFacts, "asyncio.Future[Outcome]"]


class GroupCommitter:
    def __init__(
        self,
        record_batch: RecordBatch,
        circuit: StorageCircuit,
        bounds: QueueBounds,
        on_batch: Callable[[int], None] = lambda size: None,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._record_batch = record_batch
        self._circuit = circuit
        self._bounds = bounds
        self._waiting_bytes = 0
        self._writing = 0
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

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def writing(self) -> int:
        """Deliveries in the batch being written now."""
        return self._writing

    async def submit(self, delivery: DeliveryFacts) -> Outcome:
        """The delivery's outcome once committed; StorageUnavailable or QueueFull at once
        when it cannot be taken now."""
        if self._circuit.is_open:
            raise StorageUnavailable()
        size = len(delivery.raw_body)
        if (
            len(self._waiting) >= self._bounds.deliveries
            or self._waiting_bytes + size > self._bounds.bytes
        ):
            raise QueueFull()
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((delivery, future))
        self._waiting_bytes += size
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
            self._waiting_bytes -= sum(len(delivery.raw_body) for delivery in deliveries)
            self._writing = len(batch)
            try:
                outcomes = await loop.run_in_executor(self._writer, self._record_batch, deliveries)
            except STORAGE_ERRORS as error:
                self._writing = 0
                self._circuit.open(error)
                # Those still waiting would only fail the same way, one batch after another.
                batch.extend(waiting)
                waiting.clear()
                self._waiting_bytes = 0
                for _, future in batch:
                    if not future.done():
                        future.set_exception(StorageUnavailable())
                continue
            except Exception as error:
                self._writing = 0
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            self._writing = 0
            self._on_batch(len(batch))
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)
