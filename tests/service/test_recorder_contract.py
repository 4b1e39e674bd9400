"""eventsourcing's own application-recorder test cases, run against our chained recorders.

The recorders add the chain table to the library's insert transaction, so the library's
contract (atomic inserts, contiguous notification ids, concurrent writers, subscriptions)
must hold unchanged. Each case is set up as the library's own SQLite and PostgreSQL test
modules set up theirs, and after each test the chain must verify over everything the test
wrote, which checks that every event got its link even with concurrent writers.

Not run here, because they do not apply: `AggregateRecorderTestCase` (it expects
`insert_events` to return no notification ids, which only plain aggregate recorders do), and
the library's variants with text originator ids or PostgreSQL insert functions (the service
keys tickets by UUID and leaves `POSTGRES_ENABLE_DB_FUNCTIONS` off).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, ClassVar
from unittest import TestCase

import psycopg
import pytest
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from psycopg import sql

from service.chain import verify
from service.persistence.links import ChainedRecorder, chain_rows
from service.persistence.postgres import PostgresChainedRecorder
from service.persistence.sqlite import SQLiteChainedRecorder
from service.settings import DatabaseLocation

# The library's test module imports its AES cipher, which needs eventsourcing's "crypto" extra.
pytest.importorskip("Crypto", reason="eventsourcing's test cases need pycryptodome")
from eventsourcing.tests.persistence import (
    ApplicationRecorderTestCase,
    tmpfile_uris,
)


class ChainStaysIntact(TestCase):
    """After each library test, the chain must verify over every event the test wrote."""

    recorders: list[ChainedRecorder]

    def setUp(self) -> None:
        self.recorders = []
        super().setUp()

    def tearDown(self) -> None:
        for recorder in self.recorders:
            report = verify(chain_rows(recorder))
            assert report.ok, report
            assert report.checked == _event_count(recorder)
        super().tearDown()


def _event_count(recorder: ChainedRecorder) -> int:
    head = recorder.max_notification_id() or 0
    return len(recorder.select_notifications(start=None, limit=head + 1))


class TestSQLiteChainedRecorder(
    ChainStaysIntact, ApplicationRecorderTestCase[SQLiteChainedRecorder]
):
    db_uri = ":memory:"
    # Each temporary file lives as long as the generator that made it.
    temporary_files = tmpfile_uris()

    def create_recorder(self) -> SQLiteChainedRecorder:
        recorder = SQLiteChainedRecorder(SQLiteDatastore(db_name=self.db_uri, pool_size=100))
        recorder.create_table()
        self.recorders.append(recorder)
        return recorder

    def tearDown(self) -> None:
        try:
            super().tearDown()
        finally:
            for recorder in self.recorders:
                assert isinstance(recorder, SQLiteChainedRecorder)
                recorder.datastore.close()

    # As in the library's own SQLite tests: concurrency needs a shared database, which a
    # plain ":memory:" database is not.
    def test_concurrent_no_conflicts(self, initial_position: int = 0) -> None:  # noqa: PT028
        self.db_uri = next(self.temporary_files)
        super().test_concurrent_no_conflicts()

    def test_concurrent_no_conflicts_in_memory_db(self) -> None:
        self.db_uri = f"file:{uuid.uuid4().hex}?mode=memory&cache=shared"
        super().test_concurrent_no_conflicts()

    def test_concurrent_throughput(self) -> None:
        self.db_uri = next(self.temporary_files)
        super().test_concurrent_throughput()

    def test_concurrent_throughput_in_memory_db(self) -> None:
        self.db_uri = f"file:{uuid.uuid4().hex}?mode=memory&cache=shared"
        super().test_concurrent_throughput()


@pytest.mark.postgres
class TestPostgresChainedRecorder(
    ChainStaysIntact, ApplicationRecorderTestCase[PostgresChainedRecorder]
):
    # The library's own PostgreSQL tests start from one connection and grow the pool
    # where a test needs more.
    pool_size: ClassVar[int] = 1
    datastore: PostgresDatastore

    @pytest.fixture(autouse=True)
    def _fresh_schema(self, postgres_database: str) -> Iterator[None]:
        """A schema of its own per test in the run's database, dropped afterwards."""
        location = DatabaseLocation.parse(postgres_database)
        schema = f"r_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(postgres_database, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE SCHEMA {0}").format(sql.Identifier(schema)))
        self.datastore = PostgresDatastore(
            location.dbname,
            location.host,
            location.port,
            location.user,
            location.password,
            pool_size=self.pool_size,
            max_overflow=0,
            max_waiting=0,
            schema=schema,
        )
        try:
            yield
        finally:
            self.datastore.close()
            with psycopg.connect(postgres_database, autocommit=True) as connection:
                connection.execute(
                    sql.SQL("DROP SCHEMA {0} CASCADE").format(sql.Identifier(schema))
                )

    def create_recorder(self) -> PostgresChainedRecorder:
        recorder = PostgresChainedRecorder(self.datastore)
        recorder.create_table()
        self.recorders.append(recorder)
        return recorder

    def _grow_pool(self, size: int) -> None:
        self.datastore.pool.open()
        self.datastore.pool.resize(size, size)

    def test_insert_subscribe(self) -> None:
        self._grow_pool(2)
        super().optional_test_insert_subscribe()

    def test_concurrent_no_conflicts(self, initial_position: int = 0) -> None:  # noqa: PT028
        self._grow_pool(12)
        super().test_concurrent_no_conflicts()

    def test_concurrent_throughput(self) -> None:
        self._grow_pool(10)
        super().test_concurrent_throughput()


def test_the_chain_table_lives_in_the_datastore_schema(postgres_database: str) -> None:
    # The library's own tests run in a named schema too; the chain must follow it there
    # rather than land in `public`.
    location = DatabaseLocation.parse(postgres_database)
    schema = f"r_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_database, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {0}").format(sql.Identifier(schema)))
        try:
            with PostgresDatastore(
                location.dbname, location.host, location.port, location.user, "", schema=schema
            ) as datastore:
                PostgresChainedRecorder(datastore).create_table()
            tables: list[Any] = connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            ).fetchall()
            public: list[Any] = connection.execute(
                "SELECT 1 FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_name = 'event_chain'"
            ).fetchall()
        finally:
            connection.execute(sql.SQL("DROP SCHEMA {0} CASCADE").format(sql.Identifier(schema)))

    assert ("event_chain",) in tables
    assert public == []
