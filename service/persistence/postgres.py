"""The log on PostgreSQL: the library's recorder plus the chain table, in one transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError as LibraryInterfaceError
from eventsourcing.persistence import OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Connection
from psycopg.rows import DictRow

from service.chain import Checkpoint
from service.persistence.links import KnownFacts, LinksByEvent, RecordedRef, event_key
from service.persistence.postgres_statements import statements


class PostgresChainedRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self.statements = statements(datastore.schema, events_table_name, datastore.lock_timeout)
        self.sql_create_statements.extend(self.statements.create)
        self._batch = threading.local()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One pooled connection for this thread's reads and write of a batch: each checkout
        costs a round trip to check the connection."""
        with self.datastore.get_connection() as connection:
            self._batch.connection = connection
            try:
                yield
            finally:
                self._batch.connection = None

    @contextmanager
    def _connection(self) -> Iterator[Connection[DictRow]]:
        pinned: Connection[DictRow] | None = getattr(self._batch, "connection", None)
        if pinned is not None:
            yield pinned
            return
        with self.datastore.get_connection() as connection:
            yield connection

    @retry((LibraryInterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The events and their chain links in one statement, its own transaction."""
        if not stored_events:
            return None
        with self._connection() as connection:
            rows = connection.execute(
                self.statements.append,
                _append_arguments(stored_events, kwargs.get("links")),
                prepare=True,
            ).fetchall()
        return [row["position"] for row in rows]

    def known_facts(self, delivery_ids: Sequence[str], ticket_ids: Sequence[int]) -> KnownFacts:
        with self._connection() as connection:
            rows = connection.execute(
                self.statements.known_facts,
                (list(delivery_ids), list(ticket_ids)),
                prepare=True,
            ).fetchall()
        recorded: dict[str, RecordedRef] = {}
        heads: dict[int, RecordedRef] = {}
        for row in rows:
            ref = RecordedRef(row["ticket_id"], row["version"], row["position"])
            if row["delivery_id"] is None:
                heads[ref.ticket_id] = ref
            else:
                recorded[row["delivery_id"]] = ref
        return KnownFacts(recorded, heads)

    def select_head_events(self, heads: Sequence[tuple[UUID, int]]) -> list[StoredEvent]:
        if not heads:
            return []
        ids, versions = [head[0] for head in heads], [head[1] for head in heads]
        with self._connection() as connection:
            rows = connection.execute(self.statements.head_events, (ids, versions)).fetchall()
        return [
            StoredEvent(
                row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"])
            )
            for row in rows
        ]

    def find_deliveries(self, delivery_ids: Sequence[str]) -> dict[str, RecordedRef]:
        return self.known_facts(delivery_ids, []).recorded

    def chain_head(self) -> Checkpoint | None:
        with self.datastore.get_connection() as connection:
            row = connection.execute(self.statements.chain_head).fetchone()
        return Checkpoint(row["position"], row["hash"]) if row else None

    def select_links(self, after: int, limit: int) -> list[tuple[int, str]]:
        with self.datastore.get_connection() as connection:
            rows = connection.execute(self.statements.links_after, (after, limit)).fetchall()
        return [(row["position"], row["hash"]) for row in rows]


def _append_arguments(
    stored_events: Sequence[StoredEvent], links: LinksByEvent | None
) -> list[list[Any]]:
    """One list per column of the append function. Events saved without delivery facts
    (the library's own test cases do that) are still chained, with no ticket or delivery."""
    found = [links.get(event_key(event)) if links else None for event in stored_events]
    return [
        [event.originator_id for event in stored_events],
        [event.originator_version for event in stored_events],
        [event.topic for event in stored_events],
        [event.state for event in stored_events],
        [link.ticket_id if link else None for link in found],
        [link.delivery_id if link else None for link in found],
    ]
