"""Reading the history projection: a ticket's versions with their changes, and the change feed.

Both lists are read in keyset order, (source_us, position) for a history and (position, seq)
for the feed, so a page or a streamed batch starts where the last one stopped. A `path`
filter is narrowed in SQL and decided by `touches`, so a batch may keep fewer rows than it
read: the readers below keep reading until they have what was asked or the table ends.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from projections import jsonio
from projections.change_paths import format_path, parse_path, touches
from projections.store import ProjectionStore

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
)
FEED_START: Key = (0, -1)
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
        conditions, params = ["(position, seq) > (?, ?)"], [*after]
        for condition, value in (
            ("event_id = ?", self.event_id),
            ("ticket_id = ?", self.ticket_id),
            ("source_us >= ?", self.since_us),
            ("source_us <= ?", self.until_us),
        ):
            if value is not None:
                conditions.append(condition)
                params.append(value)
        if self.path is not None and self.path.canonical:
            path_condition, path_params = self.path.sql()
            conditions.append(path_condition)
            params += path_params
        return " AND ".join(conditions), params


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
    with view.reading() as cursor:
        cursor.execute(
            view.sql("SELECT 1 FROM {versions} WHERE ticket_id = ? LIMIT 1"), (ticket_id,)
        )
        if cursor.fetchone() is None:
            return None
    conditions, params = ["ticket_id = ?"], [ticket_id]
    for condition, value in (("source_us >= ?", since_us), ("source_us <= ?", until_us)):
        if value is not None:
            conditions.append(condition)
            params.append(value)
    batch_size = count if path is None else max(count, SCAN_BATCH)
    kept: list[Keyed] = []
    while len(kept) < count:
        keyset = [] if after is None else ["(source_us, position) > (?, ?)"]
        with view.reading() as cursor:
            cursor.execute(
                view.sql(
                    "SELECT version, position, source_us, source_iso, received_iso, late, "
                    f"created, changes FROM {{versions}} WHERE {' AND '.join(conditions + keyset)} "
                    "ORDER BY source_us, position LIMIT ?"
                ),
                (*params, *(after or ()), batch_size),
            )
            rows = cursor.fetchall()
        for row in rows:
            item = _history_item(row)
            if path is None or any(path.keeps(change["path"]) for change in item["changes"]):
                kept.append(((row["source_us"], row["position"]), item))
        if len(rows) < batch_size:
            break
        after = (rows[-1]["source_us"], rows[-1]["position"])
    return kept[:count]


def feed_batch(
    view: ProjectionStore, feed_filter: FeedFilter, after: Key, batch_size: int
) -> tuple[list[Keyed], Key | None]:
    """The matching entries among the next `batch_size` rows after `after`, and the key the
    next batch starts after (None once the table is read to its end)."""
    where, params = feed_filter.sql(after)
    with view.reading() as cursor:
        cursor.execute(
            view.sql(
                "SELECT position, seq, ticket_id, event_id, version, source_iso, received_iso, "
                f"path, op, old_value, new_value FROM {{feed}} WHERE {where} "
                "ORDER BY position, seq LIMIT ?"
            ),
            (*params, batch_size),
        )
        rows = cursor.fetchall()
    path = feed_filter.path
    entries = [
        ((row["position"], row["seq"]), _feed_item(row))
        for row in rows
        if path is None or path.keeps(row["path"])
    ]
    last = (rows[-1]["position"], rows[-1]["seq"]) if len(rows) == batch_size else None
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


def whole_feed(view: ProjectionStore, feed_filter: FeedFilter) -> Iterator[list[dict[str, Any]]]:
    """Every matching entry, a batch at a time, so memory stays flat however long the feed."""
    after: Key | None = FEED_START
    while after is not None:
        batch, after = feed_batch(view, feed_filter, after, SCAN_BATCH)
        yield [item for _, item in batch]


def feed_header(output_format: FeedFormat) -> bytes:
    return _csv_lines([FEED_COLUMNS]) if output_format == "csv" else b""


def encode_feed(items: Iterable[dict[str, Any]], output_format: FeedFormat) -> bytes:
    """NDJSON: one object a line. CSV: FEED_COLUMNS in order, `old`/`new` as JSON text."""
    if output_format == "ndjson":
        return "".join(jsonio.dump(item) + "\n" for item in items).encode()
    return _csv_lines(
        [
            *(item[column] for column in FEED_COLUMNS[:-2]),
            jsonio.dump(item["old"]),
            jsonio.dump(item["new"]),
        ]
        for item in items
    )


def _csv_lines(rows: Iterable[Iterable[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


def _history_item(row: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "version": row["version"],
        "position": row["position"],
        "sourceTimestamp": row["source_iso"],
        "receivedAt": row["received_iso"],
        "late": bool(row["late"]),
    }
    if row["created"]:
        item["created"] = True
    item["changes"] = jsonio.load(row["changes"])
    return item


def _feed_item(row: Any) -> dict[str, Any]:
    return {
        "position": row["position"],
        "ticketId": row["ticket_id"],
        "eventId": row["event_id"],
        "version": row["version"],
        "sourceTimestamp": row["source_iso"],
        "receivedAt": row["received_iso"],
        "path": row["path"],
        "op": row["op"],
        "old": jsonio.load(row["old_value"]),
        "new": jsonio.load(row["new_value"]),
    }
