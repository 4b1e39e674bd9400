"""The log on SQLite: the library's recorder plus the chain table, written in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from service.chain import GENESIS_HASH, Checkpoint
from service.persistence.links import RecordedRef, link_rows

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

    def find_deliveries(self, delivery_ids: Sequence[str]) -> dict[str, RecordedRef]:
        if not delivery_ids:
            return {}
        marks = ",".join("?" * len(delivery_ids))
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT delivery_id, ticket_id, version, position FROM {CHAIN_TABLE} "
                f"WHERE delivery_id IN ({marks})",
                list(delivery_ids),
            )
            return {row[0]: RecordedRef(row[1], row[2], row[3]) for row in c.fetchall()}

    def find_positions(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], int]:
        found: dict[tuple[int, int], int] = {}
        with self.datastore.transaction(commit=False) as c:
            for ticket_id, version in keys:
                c.execute(
                    f"SELECT position FROM {CHAIN_TABLE} WHERE ticket_id = ? AND version = ?",
                    (ticket_id, version),
                )
                row = c.fetchone()
                if row:
                    found[(ticket_id, version)] = row[0]
        return found

    def head_versions(self, ticket_ids: Sequence[int]) -> dict[int, int]:
        if not ticket_ids:
            return {}
        marks = ",".join("?" * len(ticket_ids))
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT ticket_id, MAX(version) FROM {CHAIN_TABLE} "
                f"WHERE ticket_id IN ({marks}) GROUP BY ticket_id",
                list(ticket_ids),
            )
            return {row[0]: row[1] for row in c.fetchall()}

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
