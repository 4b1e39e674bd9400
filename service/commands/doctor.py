"""`ticket-audit doctor`: what an operator checks first, as a short table.

Each row is a check with a verdict: `ok`, `note` (worth knowing, nothing to fix) or
`attention` (something to fix). Exit 0 when no row needs attention, 1 when one does, 2 when
there is no log to check (like every command but `serve`, doctor never creates one).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from psycopg.sql import SQL

from projections.catalog import CATALOG
from projections.runtime.feed import log_head
from projections.store.generations import ProjectionStores
from projections.store.parked import parked_count
from service import database
from service.application import TicketAudit
from service.chain import verify
from service.persistence.links import chain_rows
from service.settings import DatabaseLocation, Settings, SettingsError
from service.storage import open_log
from service.storage_errors import (
    CHAIN,
    POSTGRES_EVENTS_TABLE,
    STORAGE_ERRORS,
    StartupError,
    classify,
    log_tables,
    require_log,
    where,
)

Verdict = Literal["ok", "note", "attention"]


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    detail: str


def doctor(settings: Settings) -> int:
    checks: list[Check] = []
    stopped = _examine(settings, checks)
    _print(checks)
    if stopped is not None:
        return stopped
    return 1 if any(check.verdict == "attention" for check in checks) else 0


def _examine(settings: Settings, checks: list[Check]) -> int | None:
    """Append each check's row; the exit code when a failed check leaves nothing to look at."""
    checks.extend(_settings_checks(settings))
    location = settings.database
    try:
        require_log(location)
    except StartupError as error:
        checks.append(Check("log", "attention", str(error)))
        return error.exit_code
    checks.append(Check("log", "ok", f"at {where(location)}"))
    checks.append(_writable(location))
    if CHAIN not in log_tables(location):
        # Opening the log would add an empty chain, hiding that the events were never chained.
        checks.append(
            Check("schema", "attention", "the events have no chain table: not a ticket-audit log")
        )
        return 1
    checks.append(Check("schema", "ok", "events and chain tables present"))
    try:
        log = open_log(location)
    except STORAGE_ERRORS as error:
        checks.append(Check("database", "attention", str(classify(error, location))))
        return 1
    try:
        checks.extend(_log_checks(log, location))
    finally:
        log.close()
    return None


def _settings_checks(settings: Settings) -> Iterator[Check]:
    try:
        settings.check_exposure()
    except SettingsError as error:
        yield Check("settings", "attention", str(error))
    else:
        unset = settings.unset_tokens()
        yield Check(
            "settings",
            "note" if unset else "ok",
            f"open routes on loopback, tokens unset: {', '.join(unset)}"
            if unset
            else "every token set",
        )
    if settings.source_timezone == "UTC":
        yield Check(
            "timezone",
            "note",
            "TICKET_AUDIT_SOURCE_TIMEZONE is UTC; Ingresse sends local time without an offset "
            "(e.g. America/Sao_Paulo)",
        )


def _writable(location: DatabaseLocation) -> Check:
    if location.kind == "sqlite":
        log = Path(location.sqlite_path)
        # SQLite writes its journal beside the file, so the folder must be writable too.
        if os.access(log, os.W_OK) and os.access(log.parent, os.W_OK):
            return Check("writable", "ok", f"{log} and its folder")
        return Check("writable", "attention", f"{log} or its folder is read-only for this user")
    table = f'"{location.schema}".{POSTGRES_EVENTS_TABLE}'
    with database.connect(location, "check") as connection:
        row = connection.execute(
            SQL("SELECT has_table_privilege(%s, 'INSERT')"), (table,)
        ).fetchone()
    if row and row[0]:
        return Check("writable", "ok", f'user "{location.user}" may append')
    return Check("writable", "attention", f'user "{location.user}" may not insert into {table}')


def _log_checks(log: TicketAudit, location: DatabaseLocation) -> Iterator[Check]:
    head = log_head(log)
    yield from _projection_checks(location, head)
    report = verify(chain_rows(log.chained_recorder))
    if report.ok:
        yield Check("verify", "ok", f"chain intact: {report.checked} event(s) checked just now")
    else:
        yield Check(
            "verify",
            "attention",
            f"chain broken at position {report.first_bad_position}: {report.reason}",
        )


def _projection_checks(location: DatabaseLocation, head: int) -> Iterator[Check]:
    storage = ProjectionStores(location)
    try:
        for name in CATALOG:
            generation = storage.active_generation(name)
            if generation is None:
                yield Check(
                    name,
                    "attention" if head else "ok",
                    f"never built: start `ticket-audit serve` or run `ticket-audit rebuild {name}`"
                    if head
                    else "empty log, nothing to apply yet",
                )
                continue
            store = storage.open_store(name, generation)
            try:
                yield _progress(
                    name, generation, head, store.tracked_position(), parked_count(store)
                )
            finally:
                store.close()
    finally:
        storage.close()


def _progress(name: str, generation: int, head: int, position: int, parked: int) -> Check:
    lag = max(head - position, 0)
    detail = f"generation {generation} at {position}/{head}, lag {lag}, parked {parked}"
    if parked:
        return Check(
            name,
            "attention",
            f"{detail}: events it could not apply (GET /v1/projections); once the cause is "
            f"fixed, `ticket-audit rebuild {name}` applies them",
        )
    # Behind is normal while `serve` is down or busy: it catches up from the log.
    return Check(name, "note" if lag else "ok", detail)


def _print(checks: list[Check]) -> None:
    width = max(len(check.name) for check in checks)
    for check in checks:
        print(f"{check.name:<{width}}  {check.verdict:<9}  {check.detail}")
    attention = sum(check.verdict == "attention" for check in checks)
    summary = (
        f"{attention} of {len(checks)} checks need attention"
        if attention
        else "nothing needs attention"
    )
    print(summary)
