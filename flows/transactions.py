"""Database work with its failures sorted into transient (retry) and permanent (give up)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg

from aiops.errors import PermanentError, TransientError
from warehouse.db import Database, TenantConnection

T = TypeVar("T")


@contextmanager
def classified_database_errors() -> Iterator[None]:
    """psycopg's OperationalError covers lost connections, a restarting server and an
    exhausted pool: worth another try. A constraint or data error (an unknown tenant, a
    value out of range) will fail the same way every time."""
    try:
        yield
    except psycopg.OperationalError as exc:
        raise TransientError(f"database unavailable: {type(exc).__name__}: {exc}"[:500]) from exc
    except (psycopg.IntegrityError, psycopg.DataError) as exc:
        raise PermanentError(
            f"database refused the data: {type(exc).__name__}: {exc}"[:500]
        ) from exc


def in_tenant(db: Database, tenant_id: str, work: Callable[[TenantConnection], T]) -> T:
    """Runs `work` in one transaction of `tenant_id`."""
    with classified_database_errors(), db.tenant(tenant_id) as conn:
        return work(conn)
