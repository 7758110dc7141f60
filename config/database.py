"""Database helpers every app may use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def named_cursor(name: str, chunk: int) -> Iterator:
    """psycopg's own server-side cursor, fetching `chunk` rows at a time, in the caller's
    transaction (open one around it): a stream of millions of rows never sits in memory.
    Not QuerySet.iterator(), whose server-side cursors are off (config/settings/base.py,
    DISABLE_SERVER_SIDE_CURSORS: they outlive the transaction, which PgBouncer breaks)."""
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.cursor(name=name) as cursor:
        cursor.itersize = chunk
        yield cursor
