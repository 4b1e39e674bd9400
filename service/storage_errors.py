"""Which failures mean "storage is unreachable or failing": one list for every part that
retries, answers 503 or reports a projection as failed."""

from __future__ import annotations

import sqlite3

import psycopg
import psycopg_pool
from eventsourcing.persistence import PersistenceError

STORAGE_ERRORS: tuple[type[BaseException], ...] = (
    PersistenceError,
    psycopg.Error,
    psycopg_pool.PoolTimeout,
    sqlite3.Error,
    OSError,
)
