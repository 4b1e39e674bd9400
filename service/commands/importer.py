"""`ticket-audit import FILE`: each line a delivery, through the same intake as HTTP."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import BinaryIO

from tqdm import tqdm

from service import bootstrap
from service.intake import Answer
from service.metrics import Metrics
from service.settings import Settings, SettingsError

# Enough deliveries in flight to fill a group commit, few enough to bound memory.
IN_FLIGHT = 500


def import_file(settings: Settings, path: str) -> int:
    try:
        source = _open(path)
    except OSError as error:
        raise SettingsError(f"{path}: {error.strerror}") from None
    with source:
        counts = asyncio.run(_import(settings, source))
    summary = ", ".join(f"{counts[key]} {key}" for key in ("recorded", "duplicate", "rejected"))
    failed = counts["failed"]
    print(f"imported: {summary}" + (f", {failed} failed (storage)" if failed else ""))
    return 1 if failed else 0


async def _import(settings: Settings, source: BinaryIO) -> Counter[str]:
    counts: Counter[str] = Counter()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="quarantine") as quarantine_writer:
        async with (
            bootstrap.opened_log(settings.database) as log,
            bootstrap.opened_write_side(settings, log, Metrics(), quarantine_writer) as write_side,
        ):
            intake = write_side.intake
            with tqdm(unit="delivery", file=sys.stderr) as progress:
                pending: set[asyncio.Task[Answer]] = set()
                for line in _deliveries(source):
                    pending.add(asyncio.create_task(intake.receive(line, datetime.now(UTC))))
                    if len(pending) >= IN_FLIGHT:
                        done, pending = await asyncio.wait(pending, return_when="FIRST_COMPLETED")
                        _count(done, counts, progress)
                if pending:
                    done, _ = await asyncio.wait(pending)
                    _count(done, counts, progress)
    return counts


def _count(done: set[asyncio.Task[Answer]], counts: Counter[str], progress: tqdm) -> None:
    for task in done:
        answer = task.result()
        if answer.status in (200, 201):
            counts[str(answer.body["status"])] += 1
        elif answer.status == 503:
            counts["failed"] += 1
        else:
            counts["rejected"] += 1
    progress.update(len(done))


def _deliveries(source: BinaryIO) -> Iterator[bytes]:
    for line in source:
        body = line.rstrip(b"\r\n")
        if body.strip():
            yield body


def _open(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    return open(path, "rb")
