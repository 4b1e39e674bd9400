"""`ticket-audit rebuild [NAME ...]`: rebuild projections (all when none is named) from
position 1 into fresh generations, with a progress bar, on both cores.

The projections are shared out between two processes, each reading the log on its own and
applying it in one pass to its group. Each builds its projections' next generation to the
log's head; the new generations are activated together only once every process succeeded.
If one fails, none is activated and the fresh ones are dropped: the active generations
answer as before. The bar counts the events the slower process has read.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue

from tqdm import tqdm

from projections.catalog import CATALOG
from projections.read_model import TicketProjection
from projections.runtime.feed import log_head
from projections.runtime.offline import (
    activate_generations,
    build_generations,
    drop_generations,
    next_generations,
)
from projections.store.generations import ProjectionStores
from projections.store.parked import describe
from service.settings import DatabaseLocation, Settings, SettingsError
from service.storage import open_existing_log
from service.storage_errors import StartupError

# History alone costs about as much per event as the three others together (BENCHMARKS.md,
# each rebuilt alone on PostgreSQL at 1M events: history 11,894 events/s; tickets 19,939,
# quantity 35,472, sale_periods 35,948), so these two groups keep both cores about as busy.
GROUPS = (("history",), ("tickets", "quantity", "sale_periods"))
# How often the parent looks for a child that died without a word (killed, out of memory).
CHILD_CHECK_SECONDS = 1.0

# prctl(2): the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1

# What a child reports: (its group's index, "read" and a count, "done", or "failed" and why).
Report = tuple[int, str, int | str]


def rebuild(settings: Settings, names: Sequence[str]) -> int:
    unknown = [name for name in names if name not in CATALOG]
    if unknown:
        raise SettingsError(
            f"unknown projection {', '.join(unknown)} (known: {', '.join(CATALOG)})"
        )
    chosen = [CATALOG[name] for name in dict.fromkeys(names or CATALOG)]
    groups = [
        [cls.name for cls in chosen if cls.name in group]
        for group in GROUPS
        if any(cls.name in group for cls in chosen)
    ]
    location = settings.database
    log = open_existing_log(location)
    try:
        head = log_head(log)
    finally:
        # The children read the log; this process needs no connection to it meanwhile.
        log.close()
    storage = ProjectionStores(location)
    try:
        fresh = next_generations(storage, chosen)
        with tqdm(
            total=head,
            unit="event",
            unit_scale=True,
            desc=", ".join(cls.name for cls in chosen),
            file=sys.stderr,
        ) as progress:
            read = _build_in_children(location, groups, fresh, chosen, storage, progress)
        applied = {name: count for group, count in zip(groups, read, strict=True) for name in group}
        for cls in chosen:
            print(f"{cls.name}: rebuilt from {applied[cls.name]} events")
    finally:
        storage.close()
    return 0


def _build_in_children(
    location: DatabaseLocation,
    groups: list[list[str]],
    fresh: Mapping[str, int],
    chosen: Sequence[type[TicketProjection]],
    storage: ProjectionStores,
    progress: tqdm,
) -> list[int]:
    """Build the fresh generations, one child per group; activate them all, or drop them
    all if any child failed; the events each child read. Interrupted, it stops the children
    and keeps what they built: a rerun resumes each generation from its tracked position."""
    context = multiprocessing.get_context("spawn")
    reports: Queue[Report] = context.Queue()
    children = [
        context.Process(
            target=build_group,
            args=(index, location, group, fresh, reports, os.getpid()),
            name=f"rebuild-{'-'.join(group)}",
            daemon=True,
        )
        for index, group in enumerate(groups)
    ]
    failed = True
    try:
        for child in children:
            child.start()
        progress_of = _Progress([0] * len(children), set())
        failure = None
        while failure is None and len(progress_of.done) < len(children):
            failure = _next_report(reports, children, progress_of, progress)
        if failure is not None:
            raise StartupError(f"rebuild failed: {failure}; the active read models are unchanged")
        for child in children:
            child.join()
        activate_generations(storage, chosen, fresh)
        failed = False
        return progress_of.read
    except KeyboardInterrupt:
        failed = False
        raise
    finally:
        for child in (child for child in children if child.pid is not None):
            if child.is_alive():
                child.terminate()
            child.join()
        if failed:
            drop_generations(storage, chosen, fresh)


@dataclass
class _Progress:
    read: list[int]
    done: set[int]


def _next_report(
    reports: Queue[Report], children: Sequence[BaseProcess], progress_of: _Progress, progress: tqdm
) -> str | None:
    """Take in one report (or notice a child that died without one); why it failed, if so."""
    try:
        index, kind, value = reports.get(timeout=CHILD_CHECK_SECONDS)
    except queue.Empty:
        for index, child in enumerate(children):
            if index not in progress_of.done and child.exitcode not in (None, 0):
                return f"the process rebuilding {child.name} ended with code {child.exitcode}"
        return None
    if kind == "failed":
        return str(value)
    if kind == "done":
        progress_of.done.add(index)
    else:
        progress_of.read[index] += int(value)
        progress.update(min(progress_of.read) - progress.n)
    return None


def build_group(
    index: int,
    location: DatabaseLocation,
    names: Sequence[str],
    generations: Mapping[str, int],
    reports: Queue[Report],
    parent: int,
) -> None:
    """A child's work: the fresh generations of `names`, from its own reading of the log."""
    _die_with_parent(parent)
    try:
        log = open_existing_log(location)
        storage = ProjectionStores(location)
        try:
            build_generations(
                log,
                storage,
                [CATALOG[name] for name in names],
                generations,
                lambda count: reports.put((index, "read", count)),
            )
        finally:
            storage.close()
            log.close()
    except Exception as error:
        reports.put((index, "failed", f"{', '.join(names)}: {describe(error)}"))
    except KeyboardInterrupt:
        # The parent was interrupted too, and drops what was built: no traceback here.
        return
    else:
        reports.put((index, "done", 0))


def _die_with_parent(parent: int) -> None:
    """Have the kernel stop this child the moment its parent dies, even by SIGKILL: an
    orphan would go on writing the generations that a rerun of `rebuild` resumes."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        # The parent died before the request took effect.
        os._exit(1)
