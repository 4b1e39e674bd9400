"""Opening projection stores, and the record of which generation of each answers queries.

A rebuild writes a new generation beside the live one and switches the record only once it
has caught up, so readers never see empty or partial tables.
"""

from __future__ import annotations

import sqlite3
import threading

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Composed, Identifier

from projections.store.views import PostgresProjectionStore, ProjectionStore, SQLiteProjectionStore
from service import database
from service.settings import DatabaseLocation
from service.setup_lock import schema_setup


class ProjectionStores:
    def __init__(self, location: DatabaseLocation) -> None:
        self.location = location
        self._lock = threading.Lock()
        self._datastore: PostgresDatastore | None = None
        self._query_datastore: PostgresDatastore | None = None
        self._sqlite_registry: sqlite3.Connection | None = None
        with schema_setup(location):
            self._create_registry(location)

    def _create_registry(self, location: DatabaseLocation) -> None:
        database.prepare_storage(location)
        if location.kind == "postgres":
            self._datastore = database.projection_datastore(location, "projections")
            # Its pool opens on the first query, so a process that answers none opens none.
            self._query_datastore = database.projection_datastore(location, "queries")
            with self._datastore.transaction(commit=True) as cursor:
                cursor.execute(
                    SQL(
                        "CREATE TABLE IF NOT EXISTS {0}.projection_generations "
                        "(name text PRIMARY KEY, generation bigint NOT NULL)"
                    ).format(Identifier(location.schema))
                )
        else:
            self._sqlite_registry = sqlite3.connect(
                location.sibling_sqlite_path("projections"),
                check_same_thread=False,
                isolation_level=None,
                timeout=30,
            )
            self._sqlite_registry.execute(
                "CREATE TABLE IF NOT EXISTS projection_generations "
                "(name TEXT PRIMARY KEY, generation INTEGER NOT NULL)"
            )

    def open_store(self, name: str, generation: int) -> ProjectionStore:
        if self._datastore is not None:
            assert self._query_datastore is not None
            return PostgresProjectionStore(
                self._datastore, name, generation, query_datastore=self._query_datastore
            )
        return SQLiteProjectionStore(self.location, name, generation)

    def active_generation(self, name: str) -> int | None:
        query = "SELECT generation FROM {table} WHERE name = ?"
        row = self._registry_fetch(query, (name,))
        return int(str(row[0])) if row else None

    def activate(self, name: str, generation: int) -> None:
        statement = (
            "INSERT INTO {table} (name, generation) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET generation = excluded.generation"
        )
        self._registry_execute(statement, (name, generation))

    def _registry_fetch(self, query: str, params: tuple[object, ...]) -> tuple[object, ...] | None:
        if self._datastore is not None:
            with self._datastore.transaction(commit=False) as cursor:
                cursor.execute(self._postgres_registry_sql(query), params)
                row = cursor.fetchone()
                return tuple(row.values()) if row else None
        assert self._sqlite_registry is not None
        with self._lock:
            result = self._sqlite_registry.execute(
                query.format(table="projection_generations"), params
            ).fetchone()
        return tuple(result) if result else None

    def _registry_execute(self, statement: str, params: tuple[object, ...]) -> None:
        if self._datastore is not None:
            with self._datastore.transaction(commit=True) as cursor:
                cursor.execute(self._postgres_registry_sql(statement), params)
            return
        assert self._sqlite_registry is not None
        with self._lock:
            self._sqlite_registry.execute(statement.format(table="projection_generations"), params)

    def _postgres_registry_sql(self, statement: str) -> Composed:
        table = SQL("{0}.projection_generations").format(Identifier(self.location.schema))
        head, _, tail = statement.replace("?", "%s").partition("{table}")
        return SQL("").join([SQL(head), table, SQL(tail)])

    def close(self) -> None:
        for datastore in (self._datastore, self._query_datastore):
            if datastore is not None:
                datastore.close()
        if self._sqlite_registry is not None:
            self._sqlite_registry.close()
