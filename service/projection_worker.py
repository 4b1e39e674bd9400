"""The projection worker process that `serve` starts (`python -m service.projection_worker`).

It opens the log named by TICKET_AUDIT_DATABASE_URL and runs `projections.runtime.worker`
on it, speaking with `serve` over stdin and stdout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from projections.catalog import CATALOG
from projections.runtime.worker import run_worker
from projections.runtime.worker_client import DATABASE_VARIABLE
from service.bootstrap import opened_log
from service.logs import configure_logging, inherited_log_format
from service.settings import DatabaseLocation
from service.storage_errors import STORAGE_ERRORS, storage_error_cause

logger = logging.getLogger(__name__)

# Intake's 201 waits on a commit; a read model only has to catch up. When the cores are all
# busy (a burst of deliveries), the scheduler should favour `serve`: the worker catches up
# once the burst is over, and `minPosition` lets a reader wait for it.
NICENESS = 19


async def _main(location: DatabaseLocation) -> None:
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    out = sys.stdout.buffer

    def write(line: bytes) -> None:
        out.write(line)
        out.flush()

    async with opened_log(location) as log:
        await run_worker(log, location, CATALOG, commands, write)


def main() -> int:
    configure_logging(inherited_log_format(), process="worker")
    try:
        location = DatabaseLocation.parse(os.environ[DATABASE_VARIABLE])
    except (KeyError, ValueError) as error:
        print(f"projection worker: {DATABASE_VARIABLE}: {error}", file=sys.stderr)
        return 2
    os.nice(NICENESS)
    try:
        asyncio.run(_main(location))
    except BrokenPipeError:
        # `serve` is gone: nobody is left to report to.
        return 0
    except STORAGE_ERRORS as error:
        # One line with the cause: `serve` starts another worker, which tries again.
        cause = storage_error_cause(error)
        logger.error("projection worker stopped: storage unavailable: %s", cause)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
