"""The log on PostgreSQL: the library's recorder plus the chain table, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from service.chain import GENESIS_HASH, Checkpoint
from service.persistence.links import RecordedRef, link_rows

CHAIN_TABLE = "event_chain"


class PostgresChainedRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self.chain_table = SQL("{0}.{1}").format(
            Identifier(datastore.schema), Identifier(CHAIN_TABLE)
        )
        self.sql_create_statements.extend(
            [
                SQL(
                    "CREATE TABLE IF NOT EXISTS {0} (position bigint PRIMARY KEY, "
                    "ticket_id bigint, version bigint NOT NULL, delivery_id text UNIQUE, "
                    "hash text NOT NULL)"
                ).format(self.chain_table),
                SQL(
                    "CREATE UNIQUE INDEX IF NOT EXISTS {0} ON {1} (ticket_id, version) "
                    "WHERE ticket_id IS NOT NULL"
                ).format(Identifier(f"{CHAIN_TABLE}_ticket_version"), self.chain_table),
            ]
        )

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        positions = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        assert positions is not None
        # Still inside the insert's transaction, which holds the events table's exclusive
        # lock: no other writer can extend the chain until this one commits.
        curs.execute(
            SQL("SELECT hash FROM {0} ORDER BY position DESC LIMIT 1").format(self.chain_table)
        )
        head = curs.fetchone()
        rows = link_rows(
            head["hash"] if head else GENESIS_HASH, positions, stored_events, kwargs.get("links")
        )
        curs.executemany(
            SQL("INSERT INTO {0} VALUES (%s, %s, %s, %s, %s)").format(self.chain_table), rows
        )
        return positions

    def find_deliveries(self, delivery_ids: Sequence[str]) -> dict[str, RecordedRef]:
        if not delivery_ids:
            return {}
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL(
                    "SELECT delivery_id, ticket_id, version, position FROM {0} "
                    "WHERE delivery_id = ANY(%s)"
                ).format(self.chain_table),
                (list(delivery_ids),),
            )
            return {
                row["delivery_id"]: RecordedRef(row["ticket_id"], row["version"], row["position"])
                for row in curs.fetchall()
            }

    def find_positions(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], int]:
        if not keys:
            return {}
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL(
                    "SELECT c.ticket_id, c.version, c.position FROM {0} c "
                    "JOIN unnest(%s::bigint[], %s::bigint[]) AS k(ticket_id, version) "
                    "ON c.ticket_id = k.ticket_id AND c.version = k.version"
                ).format(self.chain_table),
                ([k[0] for k in keys], [k[1] for k in keys]),
            )
            return {(row["ticket_id"], row["version"]): row["position"] for row in curs.fetchall()}

    def head_versions(self, ticket_ids: Sequence[int]) -> dict[int, int]:
        if not ticket_ids:
            return {}
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL(
                    "SELECT ticket_id, MAX(version) AS version FROM {0} "
                    "WHERE ticket_id = ANY(%s) GROUP BY ticket_id"
                ).format(self.chain_table),
                (list(ticket_ids),),
            )
            return {row["ticket_id"]: row["version"] for row in curs.fetchall()}

    def chain_head(self) -> Checkpoint | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL("SELECT position, hash FROM {0} ORDER BY position DESC LIMIT 1").format(
                    self.chain_table
                )
            )
            row = curs.fetchone()
        return Checkpoint(row["position"], row["hash"]) if row else None

    def select_links(self, after: int, limit: int) -> list[tuple[int, str]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL(
                    "SELECT position, hash FROM {0} WHERE position > %s ORDER BY position LIMIT %s"
                ).format(self.chain_table),
                (after, limit),
            )
            return [(row["position"], row["hash"]) for row in curs.fetchall()]
