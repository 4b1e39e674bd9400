"""Which process applies a projection when several `serve` processes share one database.

Exactly one holds each projection generation's lock and writes it; the others stand by,
answer queries from the same tables, and take over when the holder goes away. PostgreSQL
session advisory locks vanish with their connection; SQLite files use `flock`, which the
kernel releases when the process dies.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import Protocol

import psycopg

from service.database import advisory_lock_key, connect
from service.settings import DatabaseLocation


class Leadership(Protocol):
    def try_lead(self, name: str, generation: int) -> bool: ...

    def still_leads(self, name: str, generation: int) -> bool:
        """Whether the lock taken by `try_lead` is still held: a leader whose lock went
        (its database connection dropped) must stop applying."""

    def resign(self, name: str, generation: int) -> None: ...

    def close(self) -> None: ...


def open_leadership(location: DatabaseLocation) -> Leadership:
    if location.kind == "postgres":
        return AdvisoryLockLeadership(location)
    return FileLockLeadership(location)


class AdvisoryLockLeadership:
    def __init__(self, location: DatabaseLocation) -> None:
        self._location = location
        self._lock = threading.Lock()
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._held: set[tuple[str, int]] = set()

    def _key(self, name: str, generation: int) -> int:
        return advisory_lock_key(self._location, name, generation)

    def try_lead(self, name: str, generation: int) -> bool:
        with self._lock:
            if (name, generation) in self._held and self._alive():
                return True
            try:
                connection = self._connect()
                row = connection.execute(
                    "SELECT pg_try_advisory_lock(%s)", (self._key(name, generation),)
                ).fetchone()
            except psycopg.Error:
                # Locks die with a broken connection; start afresh next time.
                self._drop_connection()
                return False
            if row and row[0]:
                self._held.add((name, generation))
                return True
            return False

    def still_leads(self, name: str, generation: int) -> bool:
        # A session's advisory locks live exactly as long as the session.
        with self._lock:
            return (name, generation) in self._held and self._alive()

    def resign(self, name: str, generation: int) -> None:
        with self._lock:
            if (name, generation) not in self._held:
                return
            self._held.discard((name, generation))
            if self._connection is not None:
                try:
                    self._connection.execute(
                        "SELECT pg_advisory_unlock(%s)", (self._key(name, generation),)
                    )
                except psycopg.Error:
                    self._drop_connection()

    def close(self) -> None:
        with self._lock:
            self._drop_connection()

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._connection is None or self._connection.closed:
            self._held.clear()
            self._connection = connect(self._location, "leadership")
        return self._connection

    def _alive(self) -> bool:
        if self._connection is None or self._connection.closed:
            return False
        try:
            self._connection.execute("SELECT 1")
        except psycopg.Error:
            self._drop_connection()
            return False
        return True

    def _drop_connection(self) -> None:
        self._held.clear()
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class FileLockLeadership:
    """One `flock`ed file per projection generation, removed by its holder on the way out.

    A holder unlinks its file before unlocking it, so a process that locked the file in
    between holds an orphan: it checks that the path still names the file it locked, and
    otherwise tries again on the new one. That keeps leadership exclusive without leaving
    lock files behind.
    """

    def __init__(self, location: DatabaseLocation) -> None:
        self._location = location
        self._lock = threading.Lock()
        self._held: dict[tuple[str, int], int] = {}

    def _path(self, name: str, generation: int) -> Path:
        log = Path(self._location.sqlite_path)
        return log.with_name(f"{log.stem}.{name}.g{generation}.lock")

    def try_lead(self, name: str, generation: int) -> bool:
        with self._lock:
            if (name, generation) in self._held:
                return True
            path = self._path(name, generation)
            while True:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(descriptor)
                    return False
                if _names(path, descriptor):
                    self._held[(name, generation)] = descriptor
                    return True
                os.close(descriptor)

    def still_leads(self, name: str, generation: int) -> bool:
        # The kernel keeps a flock until this process closes it.
        with self._lock:
            return (name, generation) in self._held

    def resign(self, name: str, generation: int) -> None:
        with self._lock:
            descriptor = self._held.pop((name, generation), None)
            if descriptor is not None:
                self._release(self._path(name, generation), descriptor)

    def close(self) -> None:
        with self._lock:
            for (name, generation), descriptor in self._held.items():
                self._release(self._path(name, generation), descriptor)
            self._held.clear()

    @staticmethod
    def _release(path: Path, descriptor: int) -> None:
        path.unlink(missing_ok=True)
        os.close(descriptor)


def _names(path: Path, descriptor: int) -> bool:
    """Whether `path` still names the open file `descriptor`."""
    try:
        on_disk = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(descriptor)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)
