"""`ticket-audit rebuild [NAME ...]`: rebuild projections (all when none is named) from
position 1, in one pass over the log, with a progress bar."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tqdm import tqdm

from projections.catalog import CATALOG
from projections.runtime.feed import log_head
from projections.runtime.offline import rebuild_offline
from projections.store.generations import ProjectionStores
from service.settings import Settings, SettingsError
from service.storage import open_existing_log


def rebuild(settings: Settings, names: Sequence[str]) -> int:
    unknown = [name for name in names if name not in CATALOG]
    if unknown:
        raise SettingsError(
            f"unknown projection {', '.join(unknown)} (known: {', '.join(CATALOG)})"
        )
    log = open_existing_log(settings.database)
    storage = ProjectionStores(settings.database)
    try:
        head = log_head(log)
        chosen = [CATALOG[name] for name in dict.fromkeys(names or CATALOG)]
        # One pass over the log for all of them: each event is read and decoded once.
        with tqdm(
            total=head,
            unit="event",
            unit_scale=True,
            desc=", ".join(cls.name for cls in chosen),
            file=sys.stderr,
        ) as progress:
            applied = rebuild_offline(log, storage, chosen, progress.update)
        for cls in chosen:
            print(f"{cls.name}: rebuilt from {applied} events")
    finally:
        storage.close()
        log.close()
    return 0
