"""`ticket-audit import FILE`: deliveries from a file, through the same checks and the same
bulk path as HTTP ones.

Each delivery is screened here as intake screens a posted one (size, JSON, fields, webhook
kind); what is refused is kept in the quarantine and reported by its line. What passes goes
to the log in batches, each judged (duplicates, chain) and written in one transaction by
`record_deliveries`, the call the group commit makes for HTTP. One writer thread commits a
batch while this one screens the next. The log is opened from the composition root, without
the web app: an import needs neither a socket nor the projections, which catch up from the
log when `serve` next runs.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TypeVar

import orjson
from tqdm import tqdm

from service import bootstrap
from service.application import TicketAudit
from service.commands.import_source import Delivery, ImportSource, open_source
from service.commands.screening import SCREEN_APART_FROM, Screened, Screener
from service.domain import DeliveryFacts
from service.intake import QUARANTINE_ERRORS, Answer, Refusal, keep_refused
from service.quarantine import QuarantineStore
from service.settings import Settings
from service.storage_errors import STORAGE_ERRORS, require_log

Item = TypeVar("Item")

# Deliveries per transaction: large enough that the per-transaction cost (the log's lock,
# the chain head, the known-facts query) is spread thin, small enough to bound memory.
BATCH = 1000


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
    loop = asyncio.get_running_loop()
    apart = source.total is not None and source.total >= SCREEN_APART_FROM
    # Entered first: a screening process is forked before anything below is opened.
    with Screener(settings.zone, settings.max_body_bytes, apart=apart) as screener:
        async with (
            bootstrap.opened_log(settings.database) as log,
            bootstrap.opened_quarantine(settings) as quarantine,
        ):
            with (
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="log-writer") as writer,
                tqdm(total=source.total, unit="delivery", file=sys.stderr) as progress,
            ):
                # Each chunk's screening starts before the chunk ahead of it is handed on, so
                # three are in hand: one screening, one being quarantined and handed to the
                # writer, one being committed.
                screenings = (
                    (chunk, screener.screen([delivery.body for delivery in chunk]))
                    for chunk in _chunks(source.deliveries)
                )
                committing: asyncio.Future[Counter[str]] | None = None
                for chunk, screening in _one_ahead(screenings):
                    valid = await _kept(chunk, screening, quarantine, counts, progress)
                    if committing is not None:
                        _committed(await committing, counts, progress)
                    committing = loop.run_in_executor(writer, _commit, log, valid)
                if committing is not None:
                    _committed(await committing, counts, progress)
    return counts


def _one_ahead(items: Iterator[Item]) -> Iterator[Item]:
    """`items` in order, each given only once the one after it has been taken."""
    for taken in items:
        for following in items:
            yield taken
            taken = following
        yield taken


def _chunks(deliveries: Iterator[Delivery]) -> Iterator[list[Delivery]]:
    while chunk := list(itertools.islice(deliveries, BATCH)):
        yield chunk


async def _kept(
    chunk: Sequence[Delivery],
    screening: asyncio.Future[Screened],
    quarantine: QuarantineStore,
    counts: Counter[str],
    progress: tqdm,
) -> list[DeliveryFacts]:
    """The chunk's deliveries that passed intake's checks; the others quarantined and shown."""
    valid: list[DeliveryFacts] = []
    for delivery, screened in zip(chunk, await screening, strict=True):
        if not isinstance(screened, Refusal):
            valid.append(screened)
            continue
        try:
            answer = keep_refused(quarantine, screened, datetime.now(UTC))
        except QUARANTINE_ERRORS:
            # A reject that cannot be kept is not lost: running the import again keeps it.
            counts["failed"] += 1
        else:
            counts["rejected"] += 1
            progress.write(_rejection(delivery, screened, answer), file=sys.stderr)
        progress.update(1)
    return valid


def _commit(log: TicketAudit, valid: list[DeliveryFacts]) -> Counter[str]:
    """Record one batch in one transaction; its outcomes counted."""
    if not valid:
        return Counter()
    try:
        outcomes = log.record_deliveries(valid)
    except STORAGE_ERRORS:
        return Counter(failed=len(valid))
    return Counter(outcome.status for outcome in outcomes)


def _committed(outcomes: Counter[str], counts: Counter[str], progress: tqdm) -> None:
    counts.update(outcomes)
    progress.update(outcomes.total())


def _rejection(delivery: Delivery, refusal: Refusal, answer: Answer) -> str:
    detail = refusal.detail
    text = detail if isinstance(detail, str) else orjson.dumps(detail).decode()
    return (
        f"{delivery.where}: {answer.body['error']}: {text} (quarantine id {answer.quarantine_id})"
    )
