"""Where everything lives under the warehouse folder.

    parquet/tenant_id=<tenant>/<table>/day=<YYYY-MM-DD>/data.parquet
    ticket_index/tenant_id=<tenant>/...
    analytics.duckdb

One folder per tenant holds every table of that tenant, so a tenant-scoped DuckDB
connection can be confined to it.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

# The CHECK on tenants.tenant_id: nothing else may become a path segment.
_TENANT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_DAY_DIR = re.compile(r"day=(\d{4}-\d{2}-\d{2})")

PARTITION_FILE = "data.parquet"


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


def _table_pattern(root: Path, table: str, tenant_id: str | None) -> tuple[Path, str]:
    if tenant_id:
        return tenant_dir(root, tenant_id), f"{table}/day=*/{PARTITION_FILE}"
    return parquet_root(root), f"tenant_id=*/{table}/day=*/{PARTITION_FILE}"


def table_glob(root: Path, table: str, tenant_id: str | None = None) -> str:
    """Every partition file of `table`: one tenant's, or all tenants'."""
    base, pattern = _table_pattern(root, table, tenant_id)
    return f"{base}/{pattern}"


def has_partitions(root: Path, table: str, tenant_id: str | None = None) -> bool:
    base, pattern = _table_pattern(root, table, tenant_id)
    return base.is_dir() and next(base.glob(pattern), None) is not None


def partition_days(root: Path, table: str, tenant_id: str) -> list[date]:
    """Days of `table` that have a partition file for the tenant, oldest first."""
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
