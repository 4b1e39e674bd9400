"""Reading the history projection: a ticket's versions with their changes, and the change feed.

Both lists are read in keyset order, (source_us, position) for a history and (position, seq)
for the feed (the feed's own position, see `projections.history`), so a page or a streamed
batch starts where the last one stopped. A `path` filter is narrowed in SQL and decided by
`touches`, so a batch may keep fewer rows than it read: the readers below keep reading until
they have what was asked or the table ends.

JSON the projection stored as text (a version's changes, a change's old and new values) goes
out as an `orjson.Fragment`, copied into the answer rather than decoded and encoded again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from projections.diff.paths import format_path, parse_path, touches
from projections.store.reads import Row, fetch_all, fetch_one
from projections.store.views import ProjectionStore
from service import json_codec

Key = tuple[int, int]
"""Where a row sits in its list: (source_us, position) in a history, (position, seq) in the feed."""

Keyed = tuple[Key, dict[str, Any]]
FeedFormat = Literal["csv", "ndjson"]

FEED_COLUMNS = (
    "position",
    "ticketId",
    "eventId",
    "version",
    "sourceTimestamp",
    "receivedAt",
    "path",
    "op",
    "old",
    "new",
    "recomputedAt",
    "supersededBy",
)
FEED_START: Key = (0, -1)
# The feed columns an item is made of, in `_feed_item`'s order.
FEED_ROW = (
    "position, seq, ticket_id, event_id, version, version_position, source_iso, received_iso, "
    "path, op, old_value, new_value, superseded_by"
)
SCAN_BATCH = 1000


@dataclass(frozen=True)
class PathFilter:
    """A `path` parameter: the changes at, under or above it (see `touches`)."""

    canonical: str
    ancestors: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> PathFilter:
        """Raises ValueError when `text` is not path syntax."""
        steps = parse_path(text)
        ancestors = tuple(format_path(steps[:length]) for length in range(1, len(steps)))
        return cls(format_path(steps), ancestors)

    def sql(self) -> tuple[str, list[Any]]:
        """A condition on `path` that every touching change meets (a few others may too).

        A prefix is compared with `substr` rather than a range: text order follows the
        database's collation, equality does not."""
        condition = f"substr(path, 1, {len(self.canonical)}) = ?"
        if self.ancestors:
            condition += f" OR path IN ({', '.join('?' for _ in self.ancestors)})"
        return f"({condition})", [self.canonical, *self.ancestors]

    def keeps(self, change_path: str) -> bool:
        return touches(change_path, self.canonical)


@dataclass(frozen=True)
class FeedFilter:
    event_id: int | None = None
    ticket_id: int | None = None
    path: PathFilter | None = None
    since_us: int | None = None
    until_us: int | None = None

    def sql(self, after: Key) -> tuple[str, list[Any]]:
        """The conditions of the rows after `after`, and their parameters, for `order`.

        With a ticket or an eventId, the keyset leads with that column, bounded above by the
        same value: `(event_id, position, seq) > (E, p, s) AND event_id <= E` keeps exactly
        `event_id = E AND (position, seq) > (p, s)`. Only the index on (that column,
        position, seq) reads it in order, from the cursor on. Written as an equality, the
        planner may instead walk the primary key and filter, reading every other ticket's or
        event's rows too (the whole feed for an eventId without changes), at a cost that
        grows with the feed.
        """
        filters: dict[str, int | None] = {
            "event_id = ?": self.event_id,
            "ticket_id = ?": self.ticket_id,
            "source_us >= ?": self.since_us,
            "source_us <= ?": self.until_us,
        }
        lead = self._lead()
        if lead is None:
            conditions, params = ["(position, seq) > (?, ?)"], [*after]
        else:
            column, value = lead
            conditions = [f"({column}, position, seq) > (?, ?, ?)", f"{column} <= ?"]
            params = [value, *after, value]
            del filters[f"{column} = ?"]
        for condition, wanted in filters.items():
            if wanted is not None:
                conditions.append(condition)
                params.append(wanted)
        if self.path is not None and self.path.canonical:
            path_condition, path_params = self.path.sql()
            conditions.append(path_condition)
            params += path_params
        return " AND ".join(conditions), params

    def order(self) -> str:
        lead = self._lead()
        return "position, seq" if lead is None else f"{lead[0]}, position, seq"

    def _lead(self) -> tuple[str, int] | None:
        """The column the keyset leads with: the ticket's when given, it has fewer rows."""
        if self.ticket_id is not None:
            return "ticket_id", self.ticket_id
        if self.event_id is not None:
            return "event_id", self.event_id
        return None


def ticket_history(
    view: ProjectionStore,
    ticket_id: int,
    *,
    since_us: int | None,
    until_us: int | None,
    path: PathFilter | None,
    after: Key | None,
    count: int,
) -> list[Keyed] | None:
    """Up to `count` versions after `after` in source-time order; None for an unknown ticket."""
    conditions, params = ["ticket_id = ?"], [ticket_id]
    for condition, value in (("source_us >= ?", since_us), ("source_us <= ?", until_us)):
        if value is not None:
            conditions.append(condition)
            params.append(value)
    batch_size = count if path is None else max(count, SCAN_BATCH)
    kept: list[Keyed] = []
    read_any = False
    while len(kept) < count:
        keyset = [] if after is None else ["(source_us, position) > (?, ?)"]
        rows = fetch_all(
            view,
            "SELECT source_us, position, version, source_iso, received_iso, late, created, "
            f"changes FROM {{versions}} WHERE {' AND '.join(conditions + keyset)} "
            "ORDER BY source_us, position LIMIT ?",
            (*params, *(after or ()), batch_size),
        )
        read_any = read_any or bool(rows)
        for row in rows:
            source_us, position, *_, changes = row
            if path is None or any(
                path.keeps(change["path"]) for change in json_codec.loads(changes)
            ):
                kept.append(((source_us, position), _history_item(row)))
        if len(rows) < batch_size:
            break
        after = (rows[-1][0], rows[-1][1])
    # Only an empty answer needs telling an unknown ticket from filters that keep nothing.
    if not read_any and fetch_one(view, _ANY_VERSION, (ticket_id,)) is None:
        return None
    return kept[:count]


_ANY_VERSION = "SELECT 1 FROM {versions} WHERE ticket_id = ? LIMIT 1"


def feed_batch(
    view: ProjectionStore, feed_filter: FeedFilter, after: Key, batch_size: int
) -> tuple[list[Keyed], Key | None]:
    """The matching entries among the next `batch_size` rows after `after`, and the key the
    next batch starts after (None once the table is read to its end)."""
    where, params = feed_filter.sql(after)
    rows = fetch_all(
        view,
        f"SELECT {FEED_ROW} FROM {{feed}} WHERE {where} ORDER BY {feed_filter.order()} LIMIT ?",
        (*params, batch_size),
    )
    path = feed_filter.path
    entries: list[Keyed] = []
    for row in rows:
        position, seq, *_ = row
        item = _feed_item(row)
        if path is None or path.keeps(item["path"]):
            entries.append(((position, seq), item))
    last = (rows[-1][0], rows[-1][1]) if len(rows) == batch_size else None
    return entries, last


def feed_page(
    view: ProjectionStore, feed_filter: FeedFilter, after: Key, count: int
) -> list[Keyed]:
    """Up to `count` matching entries after `after`."""
    batch_size = count if feed_filter.path is None else max(count, SCAN_BATCH)
    entries: list[Keyed] = []
    next_after: Key | None = after
    while next_after is not None and len(entries) < count:
        batch, next_after = feed_batch(view, feed_filter, next_after, batch_size)
        entries += batch
    return entries[:count]


def latest_changes(view: ProjectionStore, count: int) -> list[dict[str, Any]]:
    """The `count` most recent current rows of the feed, newest first."""
    rows = fetch_all(
        view,
        f"SELECT {FEED_ROW} FROM {{feed}} WHERE superseded_by IS NULL "
        "ORDER BY position DESC, seq DESC LIMIT ?",
        (count,),
    )
    return [_feed_item(row) for row in rows]


def whole_feed(view: ProjectionStore, feed_filter: FeedFilter) -> Iterator[list[dict[str, Any]]]:
    """Every matching entry, a batch at a time, so memory stays flat however long the feed."""
    after: Key | None = FEED_START
    while after is not None:
        batch, after = feed_batch(view, feed_filter, after, SCAN_BATCH)
        yield [item for _, item in batch]


def feed_header(output_format: FeedFormat) -> bytes:
    return _csv_lines([FEED_COLUMNS]) if output_format == "csv" else b""


def encode_feed(items: Iterable[dict[str, Any]], output_format: FeedFormat) -> bytes:
    """NDJSON: one object a line. CSV: FEED_COLUMNS in order, `old`/`new` as JSON text,
    `recomputedAt` and `supersededBy` empty when null."""
    if output_format == "ndjson":
        return "".join(json_codec.dump_text(item) + "\n" for item in items).encode()
    return _csv_lines(
        [
            *(item[column] for column in FEED_COLUMNS[:-4]),
            json_codec.dump_text(item["old"]),
            json_codec.dump_text(item["new"]),
            item["recomputedAt"],
            item["supersededBy"],
        ]
        for item in items
    )


def _csv_lines(rows: Iterable[Iterable[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows((_csv_cell(cell) for cell in row) for row in rows)
    return buffer.getvalue().encode()


# A spreadsheet opening the file reads a cell that begins with one of these as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    """The cell as written, prefixed with a single quote when it could start a formula.

    OWASP's rule is about how a cell begins, so a negative number (`-5`) is escaped too:
    a spreadsheet shows `'-5`, and no cell the feed writes is ever run.
    """
    if value is None:
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else value


def _history_item(row: Row) -> dict[str, Any]:
    _, position, version, source_iso, received_iso, late, created, changes = row
    item: dict[str, Any] = {
        "version": version,
        "position": position,
        "sourceTimestamp": source_iso,
        "receivedAt": received_iso,
        "late": bool(late),
    }
    if created:
        item["created"] = True
    item["changes"] = orjson.Fragment(changes)
    return item


def _feed_item(row: Row) -> dict[str, Any]:
    (
        feed_position,
        _,
        ticket_id,
        event_id,
        version,
        position,
        source_iso,
        received_iso,
        path,
        op,
        old,
        new,
        superseded_by,
    ) = row
    return {
        "position": position,
        "ticketId": ticket_id,
        "eventId": event_id,
        "version": version,
        "sourceTimestamp": source_iso,
        "receivedAt": received_iso,
        "path": path,
        "op": op,
        "old": orjson.Fragment(old),
        "new": orjson.Fragment(new),
        # A row sits at its version's position unless a later delivery recomputed it.
        "recomputedAt": feed_position if feed_position != position else None,
        "supersededBy": superseded_by,
    }
