"""Connections as the application role; every transaction names its tenant."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from psycopg import Connection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

TenantConnection = Connection[DictRow]


def session_tenant(conn: TenantConnection) -> str:
    """The tenant this transaction is limited to, as `Database.tenant` set it."""
    row = conn.execute(
        "SELECT current_setting('app.current_tenant_id', true) AS tenant_id"
    ).fetchone()
    if row is None or not row["tenant_id"]:
        raise RuntimeError("not a tenant transaction: open it with Database.tenant(...)")
    return str(row["tenant_id"])


class UnsafeRoleError(RuntimeError):
    """The configured role could read every tenant's rows."""


class Database:
    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self._pool: ConnectionPool[Connection[DictRow]] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"row_factory": dict_row},
            connection_class=Connection[DictRow],
        )

    def open(self) -> Database:
        self._pool.open(wait=True, timeout=30)
        self.check_role()
        return self

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> Database:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_role(self) -> None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT current_user AS name, rolsuper, rolbypassrls "
                "FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
        assert row is not None
        if row["rolsuper"] or row["rolbypassrls"]:
            raise UnsafeRoleError(
                f"database role {row['name']!r} bypasses row-level security; point "
                "AI_AGENTS_DATABASE_URL at a role that is a member of aiops_app, and "
                "AI_AGENTS_MIGRATION_DATABASE_URL at the owner"
            )

    @contextmanager
    def tenant(self, tenant_id: str) -> Iterator[TenantConnection]:
        """One transaction in which PostgreSQL itself limits rows to `tenant_id`."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT set_config('app.current_tenant_id', %s, true)", (tenant_id,))
            yield conn

    @contextmanager
    def platform(self) -> Iterator[TenantConnection]:
        """A transaction with no tenant: tenant tables show no rows here."""
        with self._pool.connection() as conn, conn.transaction():
            yield conn

    def ping(self) -> bool:
        with self._pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
