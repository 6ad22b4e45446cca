"""Row counts and last-change times per daily partition, in PostgreSQL and in Parquet.

A partition file is current when both agree: every change to a row sets its updated_at,
so an insert, update or delete since the export shows up as a different count or latest
updated_at.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

from warehouse.analytics.export import ENHANCEMENTS, EXPORT_WORKERS, TICKET_DAY, TICKETS
from warehouse.analytics.layout import day_bounds, month_dir, month_dirs, month_of, part_of, parts
from warehouse.db import Database, TenantConnection

_DAY_EXPR = {ENHANCEMENTS: "created_at", TICKETS: TICKET_DAY}


@dataclass(frozen=True)
class PartitionStats:
    rows: int
    last_updated: datetime | None


@dataclass(frozen=True)
class Drift:
    tenant_id: str
    day: date
    postgres: PartitionStats
    parquet: PartitionStats | None  # None: never exported


def postgres_day(conn: TenantConnection, table: str, day: date) -> PartitionStats:
    expr = _DAY_EXPR[table]
    row = conn.execute(
        f"SELECT count(*) AS n, max(updated_at) AS last FROM {table} "
        f"WHERE {expr} >= %s AND {expr} < %s",
        day_bounds(day),
    ).fetchone()
    assert row is not None
    return PartitionStats(row["n"], row["last"])


def postgres_days(conn: TenantConnection, table: str, since: date) -> dict[date, PartitionStats]:
    """Every day from `since` on that has rows, for the connection's tenant."""
    expr = _DAY_EXPR[table]
    rows = conn.execute(
        f"SELECT ({expr} AT TIME ZONE 'UTC')::date AS day, count(*) AS n, "
        f"max(updated_at) AS last FROM {table} WHERE {expr} >= %s GROUP BY 1",
        (day_bounds(since)[0],),
    ).fetchall()
    return {r["day"]: PartitionStats(r["n"], r["last"]) for r in rows}


def parquet_day(root: Path, table: str, tenant_id: str, day: date) -> PartitionStats | None:
    """The day's rows in its month; None if the day was never exported."""
    part = part_of(root, table, tenant_id, day)
    if part is None:
        return None
    with duckdb.connect() as conn:
        row = conn.execute(
            "SELECT count(*), max(updated_at) FROM read_parquet(?) WHERE day = ?",
            [str(part.path), day],
        ).fetchone()
    assert row is not None
    return PartitionStats(row[0], row[1])


def parquet_days(root: Path, table: str, tenant_id: str) -> dict[date, PartitionStats]:
    """Every exported day of the tenant, empty ones too."""
    found_parts = [p for folder in month_dirs(root, table, tenant_id) for p in parts(folder)]
    files = [p.path for p in found_parts]
    days = {day for part in found_parts for day in part.days}
    if not days:
        return {}
    with duckdb.connect() as conn:
        rows = conn.execute(
            "SELECT day, count(*), max(updated_at) FROM read_parquet(?) GROUP BY day",
            [[str(f) for f in files]],
        ).fetchall()
    found = {day: PartitionStats(n, last) for day, n, last in rows}
    return {d: found.get(d, PartitionStats(0, None)) for d in sorted(days)}


def drift(
    tenant_id: str,
    postgres: dict[date, PartitionStats],
    parquet: dict[date, PartitionStats],
    due_before: date,
) -> list[Drift]:
    """Exported partitions that no longer match PostgreSQL, and days before `due_before`
    with rows that were never exported."""
    found = []
    for day in sorted(postgres.keys() | parquet.keys()):
        pg = postgres.get(day, PartitionStats(0, None))
        pq = parquet.get(day)
        if pq is None and (pg.rows == 0 or day >= due_before):
            continue
        if pq != pg:
            found.append(Drift(tenant_id, day, pg, pq))
    return found


def compare_days(
    db: Database, root: Path, table: str, tenant_ids: Sequence[str], days: Sequence[date]
) -> list[Drift]:
    """Partitions of `days` whose file does not match PostgreSQL: per tenant one query
    under its own RLS context (two tenants at a time), and one DuckDB query over every
    file."""
    if not days or not tenant_ids:
        return []
    first, last = min(days), max(days)
    expr = _DAY_EXPR[table]

    def count(tenant_id: str) -> dict[tuple[str, date], PartitionStats]:
        with db.tenant(tenant_id) as conn:
            rows = conn.execute(
                f"SELECT ({expr} AT TIME ZONE 'UTC')::date AS day, count(*) AS n, "
                f"max(updated_at) AS last FROM {table} "
                f"WHERE {expr} >= %s AND {expr} < %s GROUP BY 1",
                (day_bounds(first)[0], day_bounds(last)[1]),
            ).fetchall()
        return {(tenant_id, r["day"]): PartitionStats(r["n"], r["last"]) for r in rows}

    in_postgres: dict[tuple[str, date], PartitionStats] = {}
    # As many tenants at once as the export reads (the pool allows that many connections).
    with ThreadPoolExecutor(max_workers=EXPORT_WORKERS, thread_name_prefix="check") as pool:
        for counted in pool.map(count, tenant_ids):
            in_postgres.update(counted)
    keys = [(t, d) for t in tenant_ids for d in days]
    wanted = set(days)
    covered: set[tuple[str, date]] = set()
    present: list[str] = []
    for tenant_id, month in sorted({(t, month_of(d)) for t, d in keys}):
        for part in parts(month_dir(root, table, tenant_id, month)):
            if part.days & wanted:
                present.append(str(part.path))
                covered |= {(tenant_id, day) for day in part.days}
    in_parquet: dict[tuple[str, date], PartitionStats] = {}
    if present:
        with duckdb.connect() as conn:
            found = conn.execute(
                "SELECT tenant_id, day, count(*), max(updated_at) "
                "FROM read_parquet(?, hive_partitioning = false) "
                "WHERE day IN (SELECT unnest(?::DATE[])) GROUP BY ALL",
                [present, list(days)],
            ).fetchall()
        in_parquet = {(t, d): PartitionStats(n, u) for t, d, n, u in found}
    drifts = []
    for key in keys:
        pg = in_postgres.get(key, PartitionStats(0, None))
        pq = in_parquet.get(key, PartitionStats(0, None)) if key in covered else None
        if pq != pg:
            drifts.append(Drift(key[0], key[1], pg, pq))
    return drifts
