"""Database work whose connection failures count as transient (to be retried)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg

from aiops.errors import TransientError
from warehouse.db import Database, TenantConnection

T = TypeVar("T")


@contextmanager
def transient_database_errors() -> Iterator[None]:
    """psycopg's OperationalError covers lost connections, a restarting server and an
    exhausted pool: worth another try. Other database errors (constraints, bad data) are
    not, and pass through unchanged."""
    try:
        yield
    except psycopg.OperationalError as exc:
        raise TransientError(f"database unavailable: {type(exc).__name__}: {exc}"[:500]) from exc


def in_tenant(db: Database, tenant_id: str, work: Callable[[TenantConnection], T]) -> T:
    """Runs `work` in one transaction of `tenant_id`."""
    with transient_database_errors(), db.tenant(tenant_id) as conn:
        return work(conn)
