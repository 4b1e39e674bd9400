"""`ticket-audit verify [--checkpoint POSITION:HASH]`: exit 0 when intact, 1 otherwise."""

from __future__ import annotations

import sys

import orjson

from service.chain import Checkpoint, verify
from service.persistence.links import chain_rows
from service.settings import Settings, SettingsError
from service.storage import open_existing_log


def verify_log(settings: Settings, checkpoint_text: str | None) -> int:
    try:
        checkpoint = Checkpoint.parse(checkpoint_text) if checkpoint_text else None
    except ValueError as error:
        raise SettingsError(f"--checkpoint: {error}") from None
    log = open_existing_log(settings.database)
    try:
        report = verify(chain_rows(log.chained_recorder), checkpoint)
    finally:
        log.close()
    sys.stdout.write(orjson.dumps(report.as_json()).decode() + "\n")
    if not report.ok:
        print(
            f"ticket-audit: log broken at position {report.first_bad_position}: {report.reason}",
            file=sys.stderr,
        )
    return 0 if report.ok else 1
