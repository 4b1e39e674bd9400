"""`ticket-audit import FILE`: deliveries from a file, through the same intake as HTTP.

It opens the log and the write side from the composition root, without the web app: an
import needs neither a socket nor the projections, which catch up from the log when `serve`
next runs.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import orjson
from tqdm import tqdm

from service import bootstrap
from service.commands.import_source import Delivery, ImportSource, open_source
from service.intake import Answer, Intake
from service.metrics import Metrics
from service.settings import Settings
from service.storage_errors import require_log

# Enough deliveries in flight to fill a group commit, few enough to bound memory.
IN_FLIGHT = 500


def import_file(settings: Settings, path: str) -> int:
    require_log(settings.database)
    source = open_source(path)
    counts = asyncio.run(_import(settings, source))
    print(
        f"recorded {counts['recorded']}, duplicates {counts['duplicate']}, "
        f"rejected {counts['rejected']}"
        + (
            f", failed {counts['failed']} (storage unavailable: run again)"
            if counts["failed"]
            else ""
        )
    )
    if counts["rejected"]:
        rejected = counts["rejected"]
        kept = "1 rejected delivery is" if rejected == 1 else f"{rejected} rejected deliveries are"
        print(f"ticket-audit: {kept} kept in the quarantine (GET /v1/quarantine)", file=sys.stderr)
    return 1 if counts["rejected"] or counts["failed"] else 0


async def _import(settings: Settings, source: ImportSource) -> Counter[str]:
    counts: Counter[str] = Counter()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="quarantine") as quarantine_writer:
        async with (
            bootstrap.opened_log(settings.database) as log,
            bootstrap.opened_write_side(settings, log, Metrics(), quarantine_writer) as write_side,
        ):
            intake = write_side.intake
            with tqdm(total=source.total, unit="delivery", file=sys.stderr) as progress:
                pending: set[asyncio.Task[tuple[Delivery, Answer]]] = set()
                for delivery in source.deliveries:
                    pending.add(asyncio.create_task(_receive(intake, delivery)))
                    if len(pending) >= IN_FLIGHT:
                        done, pending = await asyncio.wait(pending, return_when="FIRST_COMPLETED")
                        _count(done, counts, progress)
                if pending:
                    done, _ = await asyncio.wait(pending)
                    _count(done, counts, progress)
    return counts


async def _receive(intake: Intake, delivery: Delivery) -> tuple[Delivery, Answer]:
    return delivery, await intake.receive(delivery.body, datetime.now(UTC))


def _count(
    done: set[asyncio.Task[tuple[Delivery, Answer]]], counts: Counter[str], progress: tqdm
) -> None:
    for task in sorted(done, key=lambda task: _order(task.result()[0])):
        delivery, answer = task.result()
        if answer.status in (200, 201):
            counts[str(answer.body["status"])] += 1
        elif answer.status == 503:
            counts["failed"] += 1
        else:
            counts["rejected"] += 1
            progress.write(_rejection(delivery, answer), file=sys.stderr)
    progress.update(len(done))


def _rejection(delivery: Delivery, answer: Answer) -> str:
    rest = {key: value for key, value in answer.body.items() if key != "error"}
    detail = rest["detail"] if set(rest) == {"detail"} else rest
    text = detail if isinstance(detail, str) else orjson.dumps(detail).decode()
    return (
        f"{delivery.where}: {answer.body['error']}: {text} (quarantine id {answer.quarantine_id})"
    )


def _order(delivery: Delivery) -> int:
    number = delivery.where.rpartition(" ")[2]
    return int(number) if number.isdigit() else 0
