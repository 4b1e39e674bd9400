"""Reading the history projection: a ticket's versions with their changes, and the change feed.

Both lists are read in keyset order, (source_us, position) for a history and (position, seq)
for the feed (the feed's own position, see `projections.history`), so a page or a streamed
batch starts where the last one stopped. A `path` filter is decided by `touches`, so a batch
may keep fewer entries than it read: the readers below keep reading until they have what was
asked or the table ends.

The feed's entries are read as the writes that hold them (a version's own, or a rewrite), two
lists each in position order, merged here. JSON the projection stored as text (a version's
changes) goes out as an `orjson.Fragment`, copied into the answer rather than decoded and
encoded again; a feed entry's old and new values are cut out of its write's changes.
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
# A feed write as `_Write.of_row` takes it, from a version's own row or from a rewrite.
_OWN_WRITES = (
    "SELECT position AS at, 0 AS first_seq, ticket_id, event_id, version, position, "
    "source_iso, received_iso, changes, superseded_by FROM {versions}"
)
_REWRITES = (
    "SELECT position AS at, first_seq, ticket_id, event_id, version, version_position, "
    "source_iso, received_iso, changes, superseded_by FROM {rewrites}"
)
# Most versions have changes; the few created or unchanged ones hold none to list.
_NO_CHANGES = "'[]'"
_HAS_CHANGES = f"changes <> {_NO_CHANGES}"
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

    def keeps(self, change_path: str) -> bool:
        return touches(change_path, self.canonical)


@dataclass(frozen=True)
class FeedFilter:
    event_id: int | None = None
    ticket_id: int | None = None
    path: PathFilter | None = None
    since_us: int | None = None
    until_us: int | None = None

    def writes_after(self, position: int) -> tuple[str, list[Any], str]:
        """The conditions on a table of writes (its `position` the one written at) that keep
        those after `position`, their parameters, and the order that reads them.

        With a ticket or an eventId the keyset leads with that column, bounded above by the
        same value: `(event_id, position) > (E, p) AND event_id <= E` keeps exactly
        `event_id = E AND position > p`, and only the index on (event_id, position) reads it
        in order, from the cursor on. Written as an equality, the planner may instead walk
        the position index and filter, reading every other event's rows too.
        A ticket's writes are read through the primary key (ticket, version): its versions
        come in position order, and it has few enough that the rewrites among them are
        sorted at no cost.
        """
        filters: dict[str, int | None] = {
            "source_us >= ?": self.since_us,
            "source_us <= ?": self.until_us,
        }
        if self.ticket_id is not None:
            conditions = ["ticket_id = ?", "position > ?"]
            params: list[Any] = [self.ticket_id, position]
            order = "ticket_id, position"
            if self.event_id is not None:
                filters["event_id = ?"] = self.event_id
        elif self.event_id is not None:
            conditions = ["(event_id, position) > (?, ?)", "event_id <= ?"]
            params = [self.event_id, position, self.event_id]
            order = "event_id, position"
        else:
            conditions, params, order = ["position > ?"], [position], "position"
        for condition, wanted in filters.items():
            if wanted is not None:
                conditions.append(condition)
                params.append(wanted)
        return " AND ".join(conditions), params, order

    def writes_at(self, position: int) -> tuple[str, list[Any]]:
        """The conditions that keep the writes at `position` this filter admits."""
        conditions, params = ["position = ?"], [position]
        for condition, wanted in (
            ("ticket_id = ?", self.ticket_id),
            ("event_id = ?", self.event_id),
            ("source_us >= ?", self.since_us),
            ("source_us <= ?", self.until_us),
        ):
            if wanted is not None:
                conditions.append(condition)
                params.append(wanted)
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
            "COALESCE(recomputed_changes, changes) "
            f"FROM {{versions}} WHERE {' AND '.join(conditions + keyset)} "
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
    view: ProjectionStore,
    feed_filter: FeedFilter,
    after: Key,
    batch_size: int,
    wanted: int | None = None,
) -> tuple[list[Keyed], Key | None]:
    """The matching entries after `after` in the next `batch_size` writes of each kind, and
    the key the next batch starts after (None once both tables are read to their end).
    With `wanted`, it stops at that many entries: a write holds several, and an entry a
    page leaves out costs as much to make as one it keeps.

    Both lists, and the rest of the position a page may have stopped in the middle of, are
    read by one statement: a round trip costs the server and the database more than the
    rows it brings.
    """
    at, _ = after
    where, params, order = feed_filter.writes_after(at)
    # Each SELECT is tagged with the part it reads: the two lists cut off at `batch_size`
    # first, then the rest of the position `after` stopped in.
    selects = [
        (
            f"{_OWN_WRITES} WHERE {where} AND {_HAS_CHANGES} ORDER BY {order} LIMIT ?",
            [*params, batch_size],
        ),
        (f"{_REWRITES} WHERE {where} ORDER BY {order} LIMIT ?", [*params, batch_size]),
    ]
    if at > FEED_START[0]:
        where_at, params_at = feed_filter.writes_at(at)
        selects += [
            (f"{_OWN_WRITES} WHERE {where_at} AND {_HAS_CHANGES}", params_at),
            (f"{_REWRITES} WHERE {where_at}", params_at),
        ]
    statement = " UNION ALL ".join(
        f"SELECT {part} AS part, p{part}.* FROM ({select}) AS p{part}"
        for part, (select, _) in enumerate(selects)
    )
    lists: tuple[list[_Write], list[_Write]] = ([], [])
    writes = []
    every_param = [param for _, select_params in selects for param in select_params]
    for row in fetch_all(view, statement, every_param):
        write = _Write.of_row(row[1:])
        writes.append(write)
        if row[0] < len(lists):
            lists[row[0]].append(write)
    # Each list holds its writes in position order, one a position at most, so a list cut
    # off at `batch_size` holds every write up to its last position, and the other list is
    # read up to there too: the merge is complete up to the lowest such position.
    complete_to: int | None = None
    for read in lists:
        if len(read) == batch_size:
            last = max(write.at for write in read)
            complete_to = last if complete_to is None else min(complete_to, last)
    if complete_to is not None:
        writes = [write for write in writes if write.at <= complete_to]
    writes.sort(key=lambda write: (write.at, write.first_seq))
    path = feed_filter.path
    entries: list[Keyed] = []
    last_key = after
    for write in writes:
        for key, item in write.entries():
            if key <= after:
                continue
            last_key = max(last_key, key)
            if path is None or path.keeps(item["path"]):
                entries.append((key, item))
                if len(entries) == wanted:
                    return entries, last_key
    if complete_to is None:
        return entries, None
    # Every entry at `complete_to` is read, so the next batch starts after its last one.
    return entries, max(last_key, (complete_to, -1))


def feed_page(
    view: ProjectionStore, feed_filter: FeedFilter, after: Key, count: int
) -> list[Keyed]:
    """Up to `count` matching entries after `after`."""
    batch_size = count if feed_filter.path is None else max(count, SCAN_BATCH)
    entries: list[Keyed] = []
    next_after: Key | None = after
    while next_after is not None and len(entries) < count:
        batch, next_after = feed_batch(
            view, feed_filter, next_after, batch_size, wanted=count - len(entries)
        )
        entries += batch
    return entries[:count]


def latest_changes(view: ProjectionStore, count: int) -> list[dict[str, Any]]:
    """The `count` most recent entries of the feed that nothing superseded, newest first."""
    writes = _writes(
        view,
        f"{_OWN_WRITES} WHERE superseded_by IS NULL AND {_HAS_CHANGES} "
        "ORDER BY position DESC LIMIT ?",
        [count],
    )
    writes += _writes(
        view,
        f"{_REWRITES} WHERE superseded_by IS NULL ORDER BY position DESC, first_seq DESC LIMIT ?",
        [count],
    )
    entries = [entry for write in writes for entry in write.entries()]
    entries.sort(key=lambda entry: entry[0], reverse=True)
    return [item for _, item in entries[:count]]


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


# Not frozen: a page makes a hundred of these, and a frozen dataclass is slower to make.
@dataclass(slots=True)
class _Write:
    """A version's changes as written at one log position: its own, or a rewrite."""

    at: int
    first_seq: int
    row: Row

    @classmethod
    def of_row(cls, row: Row) -> _Write:
        return cls(row[0], row[1], row)

    def entries(self) -> Iterator[Keyed]:
        """Its feed entries, keyed (position written at, seq)."""
        (
            at,
            first_seq,
            ticket_id,
            event_id,
            version,
            position,
            source_iso,
            received_iso,
            changes,
            superseded_by,
        ) = self.row
        # Values orjson decoded go back out through orjson unchanged; only text that may hold
        # an integer beyond 64 bits is decoded otherwise, and its values go out as written.
        decoded, exact_for_orjson = json_codec.decode(changes)
        for seq, change in enumerate(decoded, start=first_seq):
            old, new = change["old"], change["new"]
            if not exact_for_orjson:
                old = orjson.Fragment(json_codec.dump_text(old))
                new = orjson.Fragment(json_codec.dump_text(new))
            yield (
                (at, seq),
                {
                    "position": position,
                    "ticketId": ticket_id,
                    "eventId": event_id,
                    "version": version,
                    "sourceTimestamp": source_iso,
                    "receivedAt": received_iso,
                    "path": change["path"],
                    "op": change["op"],
                    "old": old,
                    "new": new,
                    # An entry sits at its version's position unless a later delivery recomputed it.
                    "recomputedAt": at if at != position else None,
                    "supersededBy": superseded_by,
                },
            )


def _writes(view: ProjectionStore, statement: str, params: list[Any]) -> list[_Write]:
    return [_Write.of_row(row) for row in fetch_all(view, statement, params)]
