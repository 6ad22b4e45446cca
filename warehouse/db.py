"""Connections as the application role; every transaction names its tenant, signed.

Tenants are created and removed by operators: `Database.operator()` opens a transaction as
a role allowed to call the `tenancy` functions (migration 0005_security2).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg
from psycopg import Connection, sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from warehouse import tenant_context

TenantConnection = Connection[DictRow]


def session_tenant(conn: TenantConnection) -> str:
    """The tenant this transaction is limited to, as PostgreSQL verified it."""
    row = conn.execute("SELECT tenancy.current_tenant() AS tenant_id").fetchone()
    if row is None or not row["tenant_id"]:
        raise RuntimeError("not a tenant transaction: open it with Database.tenant(...)")
    return str(row["tenant_id"])


class UnsafeRoleError(RuntimeError):
    """The configured role could read every tenant's rows."""


# Every transaction ends with RESET ALL, so session settings that SQL of one request made
# do not follow the connection to the next request (none of them is trusted, but nor
# should any linger). Begin and end are one round trip each: the pool's own reset hook
# cost a hop to its worker thread and three round trips per transaction, more CPU than
# most transactions' own statements.
_END_COMMIT = b"COMMIT; RESET ALL"
_END_ROLLBACK = b"ROLLBACK; RESET ALL"
_BEGIN_TENANT = sql.SQL(
    "BEGIN; SELECT set_config({}, {}, true), set_config('app.current_tenant_id', {}, true)"
)
# Begin statements kept, by (session binding, tenant): the same bytes every time for one
# session and tenant, and signing and quoting them cost a fifth of an empty transaction's
# CPU. Bounded: sessions come and go with the pool.
_BEGINS_KEPT = 10_000


class NoOperatorError(RuntimeError):
    """Creating or removing a tenant needs the operator's database URL."""


class Database:
    def __init__(
        self,
        url: str,
        context_key: bytes,
        *,
        operator_url: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
    ) -> None:
        """`context_key` signs tenant contexts (warehouse.tenant_context.context_keys);
        `operator_url` is a role that may call the tenancy functions (aiops_operator or
        the owner), needed only to create or remove tenants."""
        self._context_key = context_key
        self._operator_url = operator_url
        self._commit = True
        # Backend pid -> that session's binding, filled as each connection is made.
        self._bindings: dict[int, str] = {}
        self._begins: dict[tuple[str, str], bytes] = {}
        self._pool: ConnectionPool[Connection[DictRow]] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            # Transactions are begun and ended explicitly (`_transaction`).
            kwargs={"row_factory": dict_row, "autocommit": True},
            connection_class=Connection[DictRow],
            configure=self._learn_binding,
        )

    def rolled_back(self) -> Database:
        """This database on the same pool, but every tenant transaction is rolled back at
        its end: work that runs the production statements and must leave no trace (the
        agent sandbox) sees its own writes while it runs and keeps none of them."""
        view = copy.copy(self)
        view._commit = False
        return view

    def _learn_binding(self, conn: TenantConnection) -> None:
        row = conn.execute("SELECT tenancy.session_binding() AS binding").fetchone()
        assert row is not None
        self._bindings[conn.info.backend_pid] = row["binding"]

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
        with (
            self._pool.connection() as conn,
            _transaction(conn, self._begin(conn, tenant_id), commit=self._commit),
        ):
            yield conn

    def _begin(self, conn: TenantConnection, tenant_id: str) -> bytes:
        """The statement that begins a transaction of `tenant_id` on `conn`'s session."""
        binding = self._bindings[conn.info.backend_pid]
        statement = self._begins.get((binding, tenant_id))
        if statement is None:
            signed = tenant_context.sign(self._context_key, tenant_id, binding)
            # app.current_tenant_id is a plain copy for SQL that names the tenant; no
            # policy trusts it (anyone may set it), only the signed context.
            statement = _BEGIN_TENANT.format(
                sql.Literal(tenant_context.SETTING), sql.Literal(signed), sql.Literal(tenant_id)
            ).as_bytes(conn)
            if len(self._begins) >= _BEGINS_KEPT:
                self._begins.clear()
            self._begins[(binding, tenant_id)] = statement
        return statement

    @contextmanager
    def platform(self) -> Iterator[TenantConnection]:
        """A transaction with no tenant: tenant tables show no rows here."""
        with self._pool.connection() as conn, _transaction(conn, sql.SQL("BEGIN")):
            yield conn

    @contextmanager
    def operator(self) -> Iterator[TenantConnection]:
        """A transaction as the operator: the only one that may call tenancy.create_tenant
        and the tenant deletion functions. One connection, not pooled: this is rare."""
        if self._operator_url is None:
            raise NoOperatorError(
                "creating or removing a tenant is an operator action: set "
                "AI_AGENTS_OPERATOR_DATABASE_URL (a role granted aiops_operator) or "
                "AI_AGENTS_MIGRATION_DATABASE_URL"
            )
        with (
            Connection[DictRow].connect(self._operator_url, row_factory=dict_row) as conn,
            conn.transaction(),
        ):
            row = conn.execute(
                "SELECT current_user AS name, has_function_privilege("
                "'tenancy.create_tenant(text, text)', 'EXECUTE') AS allowed"
            ).fetchone()
            if row is None or not row["allowed"]:
                name = row["name"] if row is not None else "?"
                raise NoOperatorError(
                    f"database role {name!r} may not create or remove tenants; point "
                    "AI_AGENTS_OPERATOR_DATABASE_URL at a role granted aiops_operator"
                )
            yield conn

    def ping(self) -> bool:
        with self._pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")
        return True


@contextmanager
def _transaction(
    conn: TenantConnection, begin: sql.Composed | sql.SQL | bytes, *, commit: bool = True
) -> Iterator[None]:
    """`begin` (which opens the transaction), the block, then commit (unless `commit` is
    false), or roll back if the block raised; either way followed by RESET ALL. As in
    `Connection.transaction()`, a block that raises `psycopg.Rollback` is rolled back
    quietly."""
    conn.execute(begin)
    try:
        yield
    except psycopg.Rollback:
        conn.execute(_END_ROLLBACK)
        return
    except BaseException:
        with suppress(psycopg.Error):  # a broken connection: the pool discards it
            conn.execute(_END_ROLLBACK)
        raise
    conn.execute(_END_COMMIT if commit else _END_ROLLBACK)
