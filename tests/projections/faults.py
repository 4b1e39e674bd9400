"""Read models with a fault put in for a test: each refuses the events marked for it, as a
bug nobody foresaw would, or fails once on storage, as a dropped connection would.

A delivery is marked with `data.refusedBy` (or `data.failsOnceIn`): the names of the read
models that refuse it (or fail once on it). Tests put these classes in `CATALOG` in place
of the real ones (under the real ones' names, which the library would otherwise take from
the class); `tests/service/fault_site` does it in the processes a test starts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import ClassVar

import psycopg

from projections.catalog import CATALOG
from projections.history.projection import HistoryProjection
from projections.quantity.projection import QuantityProjection
from projections.read_model import LoggedChange, TicketProjection
from projections.sale_periods.projection import SalePeriodsProjection
from projections.store.views import Cursor, SQLiteProjectionStore
from projections.tickets.projection import TicketsProjection

REFUSED_BY = "refusedBy"
FAILS_ONCE_IN = "failsOnceIn"


def refusal(name: str, change: LoggedChange) -> str:
    """The message a refusing read model raises with for `change`."""
    return f"{name} refuses the event at position {change.position}"


def refuse_marked(name: str, changes: Sequence[LoggedChange]) -> None:
    for change in changes:
        if name in change.data.get(REFUSED_BY, ()):
            raise ValueError(refusal(name, change))


class RefusingTickets(TicketsProjection):
    name = TicketsProjection.name

    def apply(self, cursor: Cursor, changes: Sequence[LoggedChange]) -> None:
        refuse_marked(self.name, changes)
        super().apply(cursor, changes)


class RefusingHistory(HistoryProjection):
    name = HistoryProjection.name

    def apply(self, cursor: Cursor, changes: Sequence[LoggedChange]) -> None:
        refuse_marked(self.name, changes)
        super().apply(cursor, changes)


class RefusingQuantity(QuantityProjection):
    name = QuantityProjection.name

    def apply(self, cursor: Cursor, changes: Sequence[LoggedChange]) -> None:
        refuse_marked(self.name, changes)
        super().apply(cursor, changes)


class RefusingSalePeriods(SalePeriodsProjection):
    name = SalePeriodsProjection.name

    def apply(self, cursor: Cursor, changes: Sequence[LoggedChange]) -> None:
        refuse_marked(self.name, changes)
        super().apply(cursor, changes)


REFUSING: dict[str, type[TicketProjection]] = {
    cls.name: cls
    for cls in (RefusingTickets, RefusingHistory, RefusingQuantity, RefusingSalePeriods)
}


class FlakyTickets(TicketsProjection):
    """Fails on storage the first time it meets each marked event, then applies it."""

    name = TicketsProjection.name

    failed_at: ClassVar[set[int]] = set()

    def apply(self, cursor: Cursor, changes: Sequence[LoggedChange]) -> None:
        for change in changes:
            if self.name in change.data.get(FAILS_ONCE_IN, ()) and (
                change.position not in self.failed_at
            ):
                self.failed_at.add(change.position)
                if isinstance(self.view, SQLiteProjectionStore):
                    raise sqlite3.OperationalError("database is locked")
                raise psycopg.OperationalError("server closed the connection unexpectedly")
        super().apply(cursor, changes)


FLAKY: dict[str, type[TicketProjection]] = {FlakyTickets.name: FlakyTickets}


def fail_once_in_catalog(names: Iterable[str]) -> None:
    """Put the read models named, failing once on storage at each marked event, in the
    catalog of this process."""
    for name in names:
        CATALOG[name] = FLAKY[name]


def refuse_in_catalog(names: Iterable[str]) -> None:
    """Put the refusing read models named in the catalog of this process."""
    for name in names:
        CATALOG[name] = REFUSING[name]
