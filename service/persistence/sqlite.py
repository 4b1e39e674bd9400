"""The log on SQLite: the library's recorder plus the chain table, written in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from service.chain import GENESIS_HASH, Checkpoint
from service.persistence.links import KnownFacts, RecordedRef, link_rows

CHAIN_TABLE = "event_chain"


class SQLiteChainedRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} ("
            "position INTEGER PRIMARY KEY, ticket_id INTEGER, version INTEGER NOT NULL, "
            "delivery_id TEXT UNIQUE, hash TEXT NOT NULL)",
            f"CREATE UNIQUE INDEX IF NOT EXISTS {CHAIN_TABLE}_ticket_version "
            f"ON {CHAIN_TABLE} (ticket_id, version) WHERE ticket_id IS NOT NULL",
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        positions = super()._insert_events(c, stored_events, **kwargs)
        assert positions is not None
        # The write lock is held from the first insert on, so the head read here is current.
        c.execute(f"SELECT hash FROM {CHAIN_TABLE} ORDER BY position DESC LIMIT 1")
        head = c.fetchone()
        rows = link_rows(
            head[0] if head else GENESIS_HASH, positions, stored_events, kwargs.get("links")
        )
        c.executemany(f"INSERT INTO {CHAIN_TABLE} VALUES (?, ?, ?, ?, ?)", rows)
        return positions

    def batch(self) -> AbstractContextManager[None]:
        # Connections are local to the process: nothing to save by keeping one.
        return nullcontext()

    def known_facts(self, delivery_ids: Sequence[str], ticket_ids: Sequence[int]) -> KnownFacts:
        # JSON arrays rather than one placeholder per value: a batch of any size is one query.
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT delivery_id, ticket_id, version, position FROM {CHAIN_TABLE} "
                "WHERE delivery_id IN (SELECT value FROM json_each(?)) "
                "UNION ALL "
                f"SELECT NULL, head.ticket_id, head.version, head.position FROM json_each(?) "
                f"AS wanted JOIN {CHAIN_TABLE} AS head ON head.ticket_id = wanted.value "
                f"AND head.version = (SELECT MAX(version) FROM {CHAIN_TABLE} "
                "WHERE ticket_id = wanted.value)",
                (_json_array(delivery_ids), _json_array(ticket_ids)),
            )
            rows = c.fetchall()
        recorded: dict[str, RecordedRef] = {}
        heads: dict[int, RecordedRef] = {}
        for delivery_id, ticket_id, version, position in rows:
            ref = RecordedRef(ticket_id, version, position)
            if delivery_id is None:
                heads[ticket_id] = ref
            else:
                recorded[delivery_id] = ref
        return KnownFacts(recorded, heads)

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
        return self.known_facts(delivery_ids, []).recorded

    def chain_head(self) -> Checkpoint | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT position, hash FROM {CHAIN_TABLE} ORDER BY position DESC LIMIT 1")
            row = c.fetchone()
        return Checkpoint(row[0], row[1]) if row else None

    def select_links(self, after: int, limit: int) -> list[tuple[int, str]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT position, hash FROM {CHAIN_TABLE} WHERE position > ? "
                "ORDER BY position LIMIT ?",
                (after, limit),
            )
            return [(row[0], row[1]) for row in c.fetchall()]


def _json_array(values: Sequence[object]) -> str:
    return orjson.dumps(list(values)).decode()
