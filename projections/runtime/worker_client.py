"""`serve`'s side of the projection worker: start it, feed it, read its reports, replace it.

The worker is a child process (`service.projection_worker`, running
`projections.runtime.worker`). Its reports go to a callback (the `Observer`); when it exits
while `serve` still runs, every projection shows "failed" until a new worker reports again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable

import orjson

from projections.runtime.answering import Report

logger = logging.getLogger(__name__)

WORKER_MODULE = "service.projection_worker"
DATABASE_VARIABLE = "TICKET_AUDIT_DATABASE_URL"
RESTART_PAUSE_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 20.0
WAKE = b'{"wake":true}\n'


class WorkerClient:
    def __init__(self, database_url: str, on_report: Report, on_lost: Callable[[], None]):
        self._database_url = database_url
        self._on_report = on_report
        self._on_lost = on_lost
        self._process: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        # Rebuilds asked for while no worker could take them; the next worker gets them.
        self._pending_rebuilds: list[str] = []
        self._heard_at = float("inf")

    async def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise(), name="projection-worker")

    async def _spawn(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            WORKER_MODULE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, DATABASE_VARIABLE: self._database_url},
        )

    async def _supervise(self) -> None:
        while not self._stopping:
            process = self._process = await self._spawn()
            # A starting worker has said nothing yet; its silence counts from its start.
            self._heard_at = asyncio.get_running_loop().time()
            pending, self._pending_rebuilds = self._pending_rebuilds, []
            for name in pending:
                self.rebuild(name)
            assert process.stdout is not None
            async for line in process.stdout:
                self._heard_at = asyncio.get_running_loop().time()
                report = orjson.loads(line)
                if "alive" in report:
                    continue
                self._on_report(
                    report["name"],
                    report["generation"],
                    report["position"],
                    report["state"],
                    report["parked"],
                )
            returncode = await process.wait()
            if self._stopping:
                return
            logger.error("projection worker %s; starting another", _exit_reason(returncode))
            self._on_lost()
            await asyncio.sleep(RESTART_PAUSE_SECONDS)

    def silent_for(self) -> float:
        """Seconds since the worker last said anything (a report or a heartbeat)."""
        return max(asyncio.get_running_loop().time() - self._heard_at, 0.0)

    def wake(self) -> None:
        """Tell the worker the log grew; one pending wake-up is enough for any number."""
        stdin = self._stdin()
        if stdin is not None and stdin.transport.get_write_buffer_size() == 0:
            stdin.write(WAKE)

    def rebuild(self, name: str) -> None:
        stdin = self._stdin()
        if stdin is None:
            self._pending_rebuilds.append(name)
            return
        stdin.write(orjson.dumps({"rebuild": name}) + b"\n")

    def release(self, name: str, generation: int) -> None:
        """No query here reads `generation` of `name` any longer: the worker may drop it."""
        stdin = self._stdin()
        if stdin is not None:
            stdin.write(orjson.dumps({"release": name, "generation": generation}) + b"\n")

    def replace(self, reason: str) -> None:
        """End a worker that stopped making progress; the supervisor starts another."""
        process = self._process
        if process is None or process.returncode is not None or self._stopping:
            return
        logger.error("projection worker stalled (%s); replacing it", reason)
        with contextlib.suppress(ProcessLookupError):
            process.kill()

    def _stdin(self) -> asyncio.StreamWriter | None:
        process = self._process
        if (
            process is None
            or process.returncode is not None
            or process.stdin is None
            or process.stdin.is_closing()
        ):
            return None
        return process.stdin

    async def stop(self) -> None:
        """Close the worker's stdin, which makes it finish its step and stop."""
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
                    await process.wait()
            except TimeoutError:
                logger.warning("projection worker did not stop in time; killing it")
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)


def _exit_reason(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with status {returncode}"
