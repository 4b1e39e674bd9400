"""The log on SQLite: the library's recorder plus the chain table, written in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from service.chain import GENESIS_HASH, Checkpoint, link_hashes
from service.domain import ticket_uuid
from service.persistence.links import (
    KnownFacts,
    LinksByEvent,
    RecordedRef,
    deliveries_of,
    delivery_key,
    event_key,
    known_facts_of,
)

CHAIN_TABLE = "event_chain"
# The hash in its 32 bytes; the delivery indexed by the keys (see `delivery_key`) of its
# delivery id and its content id.
_CREATE_CHAIN = [
    f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} ("
    "position INTEGER PRIMARY KEY, delivery_key INTEGER, hash BLOB NOT NULL, "
    "content_key INTEGER)",
    f"CREATE INDEX IF NOT EXISTS {CHAIN_TABLE}_delivery_key ON {CHAIN_TABLE} (delivery_key)",
    f"CREATE INDEX IF NOT EXISTS {CHAIN_TABLE}_content_key ON {CHAIN_TABLE} (content_key)",
]
# Candidate events of the index entries whose key is in a JSON array.
_INDEXED = (
    "SELECT e.rowid, e.originator_id, e.originator_version, e.state "
    "FROM {chain} AS link JOIN {events} AS e ON e.rowid = link.position "
    "WHERE link.{column} IN (SELECT value FROM json_each(?))"
)
# Written and rolled back by the write probe: more than a page, so that it needs new pages.
PROBE_BYTES = 8192


class SQLiteChainedRecorder(SQLiteApplicationRecorder):
    def _create_table(self, c: SQLiteCursor) -> None:
        super()._create_table(c)
        for statement in _CREATE_CHAIN:
            c.execute(statement)

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        positions = super()._insert_events(c, stored_events, **kwargs)
        assert positions is not None
        # The write lock is held from the first insert on, so the head read here is current.
        c.execute(f"SELECT hash FROM {CHAIN_TABLE} ORDER BY position DESC LIMIT 1")
        head = c.fetchone()
        rows = _link_rows(
            head[0].hex() if head else GENESIS_HASH, positions, stored_events, kwargs.get("links")
        )
        c.executemany(f"INSERT INTO {CHAIN_TABLE} VALUES (?, ?, ?, ?)", rows)
        return positions

    def batch(self) -> AbstractContextManager[None]:
        # Connections are local to the process: nothing to save by keeping one.
        return nullcontext()

    def probe_write(self) -> None:
        # Pages are taken (a full disk or a read-only file refuses them) and given back by
        # the rollback: the file keeps nothing of the probe.
        with self.datastore.transaction(commit=False) as c:
            c.execute("CREATE TABLE storage_probe (b BLOB)")
            c.execute("INSERT INTO storage_probe VALUES (zeroblob(?))", (PROBE_BYTES,))

    def drop_broken_connections(self) -> None:
        """A file has no connection for a server to close."""

    def renew_connections(self) -> None:
        """A file has no connection for a server to close."""

    def known_facts(self, content_ids: Sequence[str], ticket_ids: Sequence[int]) -> KnownFacts:
        # JSON arrays rather than one placeholder per value: a batch of any size is one query.
        # The heads come from the events table's own key (stream, version).
        events = self.events_table_name
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                _INDEXED.format(chain=CHAIN_TABLE, events=events, column="content_key")
                + " UNION ALL "
                "SELECT head.rowid, head.originator_id, head.originator_version, NULL "
                f"FROM json_each(?) AS wanted JOIN {events} AS head "
                "ON head.originator_id = wanted.value AND head.originator_version = "
                f"(SELECT MAX(originator_version) FROM {events} "
                "WHERE originator_id = wanted.value)",
                (
                    _json_array([delivery_key(content_id) for content_id in content_ids]),
                    _json_array([ticket_uuid(ticket_id).hex for ticket_id in ticket_ids]),
                ),
            )
            rows = c.fetchall()
        return known_facts_of(rows, content_ids, ticket_ids)

    def select_head_events(self, heads: Sequence[tuple[UUID, int]]) -> list[StoredEvent]:
        wanted = _json_array([[originator_id.hex, version] for originator_id, version in heads])
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT e.originator_id, e.originator_version, e.topic, e.state "
                f"FROM json_each(?) AS head JOIN {self.events_table_name} AS e "
                "ON e.originator_id = json_extract(head.value, '$[0]') "
                "AND e.originator_version = json_extract(head.value, '$[1]')",
                (wanted,),
            )
            rows = c.fetchall()
        return [
            StoredEvent(self.convert_originator_id(originator_id), version, topic, state)
            for originator_id, version, topic, state in rows
        ]

    def find_deliveries(self, delivery_ids: Sequence[str]) -> dict[str, RecordedRef]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                _INDEXED.format(
                    chain=CHAIN_TABLE, events=self.events_table_name, column="delivery_key"
                ),
                (_json_array([delivery_key(delivery_id) for delivery_id in delivery_ids]),),
            )
            rows = c.fetchall()
        return deliveries_of(rows, delivery_ids)

    def chain_head(self) -> Checkpoint | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT position, hash FROM {CHAIN_TABLE} ORDER BY position DESC LIMIT 1")
            row = c.fetchone()
        return Checkpoint(row[0], row[1].hex()) if row else None

    def select_links(self, after: int, limit: int) -> list[tuple[int, str]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT position, hash FROM {CHAIN_TABLE} WHERE position > ? "
                "ORDER BY position LIMIT ?",
                (after, limit),
            )
            return [(row[0], row[1].hex()) for row in c.fetchall()]


def _link_rows(
    previous_hash: str,
    positions: Sequence[int],
    stored_events: Sequence[StoredEvent],
    links: LinksByEvent | None,
) -> list[tuple[int, int | None, bytes, int | None]]:
    """Rows of the chain table. Events saved without delivery facts (the library's own test
    cases do that) are still chained, with no delivery."""
    rows: list[tuple[int, int | None, bytes, int | None]] = []
    for (position, digest), event in zip(
        link_hashes(previous_hash, positions, stored_events), stored_events, strict=True
    ):
        link = links.get(event_key(event)) if links else None
        if link is None:
            rows.append((position, None, bytes.fromhex(digest), None))
        else:
            rows.append(
                (
                    position,
                    delivery_key(link.delivery_id),
                    bytes.fromhex(digest),
                    delivery_key(link.content_id),
                )
            )
    return rows


def _json_array(values: Sequence[object]) -> str:
    return orjson.dumps(list(values)).decode()
