"""The log on PostgreSQL: the library's recorder plus the chain table, in one transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast
from uuid import UUID

import psycopg
from eventsourcing.persistence import InterfaceError as LibraryInterfaceError
from eventsourcing.persistence import OperationalError, StoredEvent
from eventsourcing.postgres import (
    ConnectionPool,
    PostgresApplicationRecorder,
    PostgresDatastore,
)
from eventsourcing.utils import retry
from psycopg import Connection, Cursor
from psycopg.rows import DictRow, tuple_row

from service.chain import Checkpoint
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
from service.persistence.postgres_statements import statements

# libpq's smallest: a server that is unreachable (rather than refusing) costs a probe this.
PROBE_CONNECT_TIMEOUT_SECONDS = 2


class PostgresChainedRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self.statements = statements(
            datastore.schema, self.events_table_name, datastore.lock_timeout
        )
        self._batch = threading.local()

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        super()._create_table(curs)
        for statement in self.statements.create:
            curs.execute(statement, prepare=False)

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

    def probe_write(self) -> None:
        # A connection of its own: the pool's may be dead after an outage, and the pool
        # waits out its reconnection backoff. Creating a table is refused by a read-only
        # server or session; the rollback leaves nothing behind.
        # The library gives its pool the connection's identity as a plain dict, and the
        # database URL's other parameters (sslmode, ...) ride in the pool's conninfo.
        pool = self.datastore.pool
        options = dict(cast(dict[str, Any], pool.kwargs))
        options.pop("row_factory", None)
        options["connect_timeout"] = PROBE_CONNECT_TIMEOUT_SECONDS
        with psycopg.connect(cast(str, pool.conninfo), **options) as probe:
            probe.execute("CREATE TEMPORARY TABLE storage_probe (b bytea)")
            probe.rollback()

    def renew_connections(self) -> None:
        """A new pool, filling at once, in place of one whose connections all died.

        The old pool would discard its dead connections one use at a time (each costing a
        delivery), and reconnects with a backoff that grows through an outage (seconds
        after the database is back). Connections still out of the old pool are closed as
        they come back.
        """
        datastore = self.datastore
        old = datastore.pool
        fresh: ConnectionPool[Connection[DictRow]] = ConnectionPool(
            old.conninfo,
            connection_class=Connection[DictRow],
            kwargs=old.kwargs,
            min_size=old.min_size,
            max_size=old.max_size,
            open=False,
            configure=datastore.after_connect_func(),
            check=ConnectionPool.check_connection if datastore.pre_ping else None,
            timeout=old.timeout,
            max_waiting=old.max_waiting,
            max_lifetime=old.max_lifetime,
            get_password_func=old.get_password_func,
        )
        fresh.open(wait=False)
        datastore.pool = fresh
        old.close(timeout=0)

    def drop_broken_connections(self) -> None:
        # Checks every idle connection now; the pool opens new ones for those it drops.
        self.datastore.pool.check()

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
            # Plain tuples: the pool's dict rows cost a dict per event written.
            rows = (
                connection.cursor(row_factory=tuple_row)
                .execute(
                    self.statements.append,
                    _append_arguments(stored_events, kwargs.get("links")),
                    prepare=True,
                )
                .fetchall()
            )
        return [position for (position,) in rows]

    def known_facts(self, content_ids: Sequence[str], ticket_ids: Sequence[int]) -> KnownFacts:
        wanted_tickets = [ticket_uuid(ticket_id) for ticket_id in ticket_ids]
        known_facts = self.statements.known_facts
        with self._connection() as connection:
            rows = (
                connection.cursor(row_factory=tuple_row)
                .execute(
                    known_facts,
                    ([delivery_key(c) for c in content_ids], wanted_tickets),
                    prepare=True,
                )
                .fetchall()
            )
        return known_facts_of(
            (
                (position, originator_id, version, None if state is None else bytes(state))
                for position, originator_id, version, state in rows
            ),
            content_ids,
            ticket_ids,
        )

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
        with self._connection() as connection:
            rows = (
                connection.cursor(row_factory=tuple_row)
                .execute(
                    self.statements.find_deliveries,
                    ([delivery_key(d) for d in delivery_ids],),
                    prepare=True,
                )
                .fetchall()
            )
        return deliveries_of(
            (
                (position, originator_id, version, bytes(state))
                for position, originator_id, version, state in rows
            ),
            delivery_ids,
        )

    def chain_head(self) -> Checkpoint | None:
        with self.datastore.get_connection() as connection:
            row = connection.execute(self.statements.chain_head).fetchone()
        return Checkpoint(row["position"], bytes(row["hash"]).hex()) if row else None

    def select_links(self, after: int, limit: int) -> list[tuple[int, str]]:
        with self.datastore.get_connection() as connection:
            rows = connection.execute(self.statements.links_after, (after, limit)).fetchall()
        return [(row["position"], bytes(row["hash"]).hex()) for row in rows]


def _append_arguments(
    stored_events: Sequence[StoredEvent], links: LinksByEvent | None
) -> list[list[Any]]:
    """One list per column of the append function. Events saved without delivery facts
    (the library's own test cases do that) are still chained, with no delivery."""
    found = [links.get(event_key(event)) if links else None for event in stored_events]
    return [
        [event.originator_id for event in stored_events],
        [event.originator_version for event in stored_events],
        [event.topic for event in stored_events],
        [event.state for event in stored_events],
        [delivery_key(link.delivery_id) if link else None for link in found],
        [delivery_key(link.content_id) if link else None for link in found],
    ]
