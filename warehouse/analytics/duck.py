"""DuckDB over the Parquet warehouse: views, the analytics.duckdb file, read-only SQL.

A query runs in a fresh in-memory connection whose views point at Parquet files. For a
tenant, those views cover only the tenant's folder, and before the query runs the
connection is confined to that folder: external access off except for it, extensions
never loaded, configuration locked. Only single SELECT-type statements are accepted, so
nothing can be written either.

Every query also runs under `QueryLimits`: a memory limit, a thread count, a row cap, and
its own spill folder (created 0700 for that one query under spill/tenant_id=<tenant>/,
outside every tenant's readable folder, removed afterwards, capped in size) instead of
DuckDB's default `.tmp` in the working directory, which every tenant's queries shared.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from warehouse.analytics.duck_types import duck_type
from warehouse.analytics.export import ENHANCEMENT_SCHEMA, ENHANCEMENTS, TICKET_SCHEMA, TICKETS
from warehouse.analytics.layout import (
    check_tenant_id,
    duckdb_file,
    has_partitions,
    parquet_root,
    table_glob,
    tenant_dir,
)
from warehouse.analytics.rollups import (
    AGENTS,
    AGENTS_SCHEMA,
    DAILY,
    DAILY_SCHEMA,
    SOURCES,
    SOURCES_SCHEMA,
)

TABLES: dict[str, dict[str, Any]] = {
    ENHANCEMENTS: ENHANCEMENT_SCHEMA,
    TICKETS: TICKET_SCHEMA,
    DAILY: DAILY_SCHEMA,
    SOURCES: SOURCES_SCHEMA,
    AGENTS: AGENTS_SCHEMA,
}

_READ_ONLY = {duckdb.StatementType.SELECT}


class QueryRefusedError(ValueError):
    """Not a single read-only statement."""


class QueryTimeoutError(RuntimeError):
    """The query ran longer than it was allowed to and was interrupted."""


class QueryTooLargeError(RuntimeError):
    """The query needed more memory (or spill space) than one query may have."""


@dataclass(frozen=True)
class QueryLimits:
    """What one analytics query may use."""

    memory_mb: int = 512
    threads: int = 1
    max_rows: int = 10_000
    spill_mb: int = 1024


DEFAULT_LIMITS = QueryLimits()


def spill_root(root: Path, tenant_id: str | None) -> Path:
    """Where a tenant's queries spill: never inside a folder a tenant's SQL may read."""
    return root / "spill" / (f"tenant_id={check_tenant_id(tenant_id)}" if tenant_id else "platform")


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(root: Path, table: str, tenant_id: str | None) -> str:
    if has_partitions(root, table, tenant_id):
        pattern = _literal(table_glob(root, table, tenant_id))
        source = f"read_parquet({pattern}, hive_partitioning = false, union_by_name = true)"
        return f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM {source}"
    # No partition yet: an empty view of the same shape, so queries still bind.
    columns = ", ".join(
        f"CAST(NULL AS {duck_type(dtype)}) AS {name}" for name, dtype in TABLES[table].items()
    )
    return f"CREATE OR REPLACE VIEW {table} AS SELECT {columns} WHERE false"


def create_views(conn: duckdb.DuckDBPyConnection, root: Path, tenant_id: str | None) -> None:
    for table in TABLES:
        conn.execute(view_sql(root, table, tenant_id))


@contextmanager
def read_only_connection(
    root: Path, tenant_id: str | None = None, limits: QueryLimits = DEFAULT_LIMITS
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection that sees the warehouse views (one tenant's, if given) and nothing else."""
    scope = tenant_dir(root, tenant_id) if tenant_id else parquet_root(root)
    spills = spill_root(root, tenant_id)
    spills.mkdir(parents=True, exist_ok=True, mode=0o700)
    spill = Path(tempfile.mkdtemp(prefix="q-", dir=spills))  # 0700, this query's alone
    conn = duckdb.connect(
        ":memory:",
        config={
            "autoinstall_known_extensions": False,
            "memory_limit": f"{limits.memory_mb}MB",
            "threads": limits.threads,
            "temp_directory": str(spill),
            "max_temp_directory_size": f"{limits.spill_mb}MB",
        },
    )
    try:
        create_views(conn, root.resolve(), tenant_id)
        conn.execute("SET autoload_known_extensions = false")
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute(f"SET allowed_directories = [{_literal(str(scope.resolve()) + os.sep)}]")
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")
        yield conn
    finally:
        conn.close()
        shutil.rmtree(spill, ignore_errors=True)


def check_read_only(conn: duckdb.DuckDBPyConnection, sql: str) -> None:
    try:
        statements = conn.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefusedError(str(exc)) from exc
    if len(statements) != 1:
        raise QueryRefusedError("give exactly one statement")
    if statements[0].type not in _READ_ONLY:
        raise QueryRefusedError(f"only SELECT queries run here, not {statements[0].type.name}")


def run_query(
    root: Path,
    sql: str,
    tenant_id: str | None = None,
    max_rows: int | None = None,
    timeout_seconds: float | None = None,
    limits: QueryLimits = DEFAULT_LIMITS,
) -> QueryResult:
    """Runs one read-only statement; with `tenant_id`, only that tenant's data exists.

    DuckDB has no statement timeout of its own: past `timeout_seconds` a timer interrupts
    the connection, so one tenant's runaway query cannot hold a server thread forever.
    At most `limits.max_rows` rows come back, whatever `max_rows` asks for.
    """
    if tenant_id is not None:
        check_tenant_id(tenant_id)
    max_rows = min(max_rows or limits.max_rows, limits.max_rows)
    with read_only_connection(root, tenant_id, limits) as conn:
        check_read_only(conn, sql)
        timer = threading.Timer(timeout_seconds, conn.interrupt) if timeout_seconds else None
        if timer is not None:
            timer.start()
        try:
            cursor = conn.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            rows = cursor.fetchmany(max_rows + 1)
            return QueryResult(columns, rows[:max_rows], truncated=len(rows) > max_rows)
        except duckdb.OutOfMemoryException as exc:
            raise QueryTooLargeError(
                f"the query needed more than {limits.memory_mb} MB of memory "
                f"(and {limits.spill_mb} MB of spill space): aggregate before returning rows, "
                f"select fewer columns or narrow the days ({exc})"
            ) from exc
        except duckdb.InterruptException as exc:
            raise QueryTimeoutError(
                f"the query ran longer than {timeout_seconds:g} s and was stopped; "
                "narrow it (fewer days, a WHERE on day) or aggregate before joining"
            ) from exc
        finally:
            if timer is not None:
                timer.cancel()


def to_jsonable(value: Any) -> Any:
    """DuckDB values as JSON has them: decimals as numbers, times as ISO 8601 text."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def _records(result: QueryResult) -> list[dict[str, Any]]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def _between(
    root: Path, table: str, tenant_id: str, start: date, end: date, order: Sequence[str]
) -> list[dict[str, Any]]:
    check_tenant_id(tenant_id)
    with read_only_connection(root, tenant_id) as conn:
        cursor = conn.execute(
            f"SELECT * FROM {table} WHERE day BETWEEN ? AND ? ORDER BY {', '.join(order)}",
            [start, end],
        )
        columns = [d[0] for d in cursor.description or []]
        return _records(QueryResult(columns, cursor.fetchall()))


def daily_rollups(root: Path, tenant_id: str, start: date, end: date) -> list[dict[str, Any]]:
    """The tenant's daily rollup rows for `start`..`end` inclusive, oldest first."""
    return _between(root, DAILY, tenant_id, start, end, ["day"])


def source_rollups(root: Path, tenant_id: str, start: date, end: date) -> list[dict[str, Any]]:
    """Per day and context source: how often it contributed, came back empty, or failed."""
    return _between(root, SOURCES, tenant_id, start, end, ["day", "source"])


def build_database(root: Path) -> Path:
    """(Re)writes analytics.duckdb: views over every tenant's partitions, for analysts'
    own tools. Built beside the old file and swapped in, so open readers keep working."""
    target = duckdb_file(root)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    try:
        with duckdb.connect(str(tmp)) as conn:
            create_views(conn, root.resolve(), None)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
