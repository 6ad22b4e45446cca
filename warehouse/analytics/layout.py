"""Where everything lives under the warehouse folder.

    parquet/tenant_id=<tenant>/<table>/day=<YYYY-MM-DD>/data.parquet   exported tables
    parquet/tenant_id=<tenant>/<rollup>/data.parquet                   rollup tables
    ticket_index/tenant_id=<tenant>/...
    analytics.duckdb

One folder per tenant holds every table of that tenant, so a tenant-scoped DuckDB
connection can be confined to it. A rollup has one row per day (per source), so a
tenant's rollup is one small file holding all its days: a run over 100 tenants x 100
days rewrites 100 files, not 10,000 (about a millisecond of CPU each, which would cost
more than the aggregate itself). Re-running a day replaces that day's rows only.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl

# The CHECK on tenants.tenant_id: nothing else may become a path segment.
_TENANT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_DAY_DIR = re.compile(r"day=(\d{4}-\d{2}-\d{2})")

PARTITION_FILE = "data.parquet"
DAILY_ROLLUP = "daily_rollup"
SOURCE_ROLLUP = "daily_source_rollup"
ROLLUP_TABLES = frozenset({DAILY_ROLLUP, SOURCE_ROLLUP})


class InvalidTenantError(ValueError):
    pass


def check_tenant_id(tenant_id: str) -> str:
    if _TENANT_ID.fullmatch(tenant_id) is None:
        raise InvalidTenantError(f"not a tenant id: {tenant_id!r}")
    return tenant_id


def parquet_root(root: Path) -> Path:
    return root / "parquet"


def tenant_dir(root: Path, tenant_id: str) -> Path:
    return parquet_root(root) / f"tenant_id={check_tenant_id(tenant_id)}"


def partition_file(root: Path, table: str, tenant_id: str, day: date) -> Path:
    return tenant_dir(root, tenant_id) / table / f"day={day.isoformat()}" / PARTITION_FILE


def rollup_file(root: Path, table: str, tenant_id: str) -> Path:
    return tenant_dir(root, tenant_id) / table / PARTITION_FILE


def _table_pattern(root: Path, table: str, tenant_id: str | None) -> tuple[Path, str]:
    inner = PARTITION_FILE if table in ROLLUP_TABLES else f"day=*/{PARTITION_FILE}"
    if tenant_id:
        return tenant_dir(root, tenant_id), f"{table}/{inner}"
    return parquet_root(root), f"tenant_id=*/{table}/{inner}"


def table_glob(root: Path, table: str, tenant_id: str | None = None) -> str:
    """Every partition file of `table`: one tenant's, or all tenants'."""
    base, pattern = _table_pattern(root, table, tenant_id)
    return f"{base}/{pattern}"


def has_partitions(root: Path, table: str, tenant_id: str | None = None) -> bool:
    base, pattern = _table_pattern(root, table, tenant_id)
    return base.is_dir() and next(base.glob(pattern), None) is not None


def partition_days(root: Path, table: str, tenant_id: str) -> list[date]:
    """Days of `table` that have a partition file (rollups: rows) for the tenant, oldest first."""
    if table in ROLLUP_TABLES:
        path = rollup_file(root, table, tenant_id)
        if not path.is_file():
            return []
        return sorted(set(pl.read_parquet(path, columns=["day"])["day"].to_list()))
    folder = tenant_dir(root, tenant_id) / table
    if not folder.is_dir():
        return []
    days = []
    for child in folder.iterdir():
        match = _DAY_DIR.fullmatch(child.name)
        if match and (child / PARTITION_FILE).is_file():
            days.append(date.fromisoformat(match.group(1)))
    return sorted(days)


def exported_tenants(root: Path) -> list[str]:
    base = parquet_root(root)
    if not base.is_dir():
        return []
    return sorted(
        p.name.removeprefix("tenant_id=") for p in base.iterdir() if p.name.startswith("tenant_id=")
    )


def ticket_index_dir(root: Path, tenant_id: str) -> Path:
    return root / "ticket_index" / f"tenant_id={check_tenant_id(tenant_id)}"


def duckdb_file(root: Path) -> Path:
    return root / "analytics.duckdb"


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a UTC calendar day: the window a daily partition covers."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A temporary path beside `target` that becomes `target` atomically on success, so a
    reader sees the old file or the new one, never half of one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
