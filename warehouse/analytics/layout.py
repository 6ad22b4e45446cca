"""Where everything lives under the warehouse folder.

    parquet/tenant_id=<tenant>/<table>/month=<YYYY-MM>/*.parquet   exported tables
    parquet/tenant_id=<tenant>/<rollup>/data.parquet              rollup tables
    ticket_index/tenant_id=<tenant>/...
    analytics.duckdb

One folder per tenant holds every table of that tenant, so a tenant-scoped DuckDB
connection can be confined to it. An exported table has a folder per tenant and UTC
month holding a few part files, rows in day order (see months). DuckDB pays a fixed cost
per file it opens (about 0.25 ms), which with one file per tenant and day cost more than
the aggregate itself; a past month is one file. A rollup has one row per day (per
source), so a tenant's rollup is one small file holding all its days. Re-running a day
replaces that day's rows only, in either kind.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl

# The CHECK on tenants.tenant_id: nothing else may become a path segment.
_TENANT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_MONTH_DIR = re.compile(r"month=(\d{4})-(\d{2})")

PARTITION_FILE = "data.parquet"
DAILY_ROLLUP = "daily_rollup"
SOURCE_ROLLUP = "daily_source_rollup"
AGENT_ROLLUP = "agent_version_daily_rollup"
ROLLUP_TABLES = frozenset({DAILY_ROLLUP, SOURCE_ROLLUP, AGENT_ROLLUP})
# Key-value metadata of an exported file: the days it covers, comma-separated ISO dates.
DAYS_KEY = "aiops_days"
PART_SUFFIX = ".parquet"


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


def month_of(day: date) -> date:
    return day.replace(day=1)


def month_dir(root: Path, table: str, tenant_id: str, day: date) -> Path:
    """The folder holding the tenant's rows of `table` for `day`'s month."""
    return tenant_dir(root, tenant_id) / table / f"month={day.year:04d}-{day.month:02d}"


def rollup_file(root: Path, table: str, tenant_id: str) -> Path:
    return tenant_dir(root, tenant_id) / table / PARTITION_FILE


def _table_pattern(root: Path, table: str, tenant_id: str | None) -> tuple[Path, str]:
    inner = PARTITION_FILE if table in ROLLUP_TABLES else f"month=*/*{PART_SUFFIX}"
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


def month_dirs(root: Path, table: str, tenant_id: str) -> list[Path]:
    """The tenant's month folders of `table`, oldest month first."""
    folder = tenant_dir(root, tenant_id) / table
    if not folder.is_dir():
        return []
    return sorted(
        folder / name
        for name in os.listdir(folder)
        if _MONTH_DIR.fullmatch(name) and (folder / name).is_dir()
    )


@dataclass(frozen=True)
class Part:
    """One file of a month and the days whose rows it holds."""

    path: Path
    days: frozenset[date]


def part_name(days: frozenset[date], token: str) -> str:
    """A part's file name: its first day, its writer's token and its days as a bitmask of
    the month's days. Listing a month then tells which days each part holds without
    opening one; reading the metadata cost every run of the month an open per part."""
    first = min(days)
    if any(month_of(day) != month_of(first) for day in days):
        raise ValueError(f"a part holds the days of one month, not {sorted(days)}")
    mask = sum(1 << (day.day - 1) for day in days)
    return f"{first.isoformat()}.{token}.{mask:08x}{PART_SUFFIX}"


def part_days(path: Path) -> frozenset[date]:
    fields = path.name.removesuffix(PART_SUFFIX).split(".")
    if len(fields) == 3:
        first, mask = date.fromisoformat(fields[0]), int(fields[2], 16)
        return frozenset(first.replace(day=n + 1) for n in range(31) if mask >> n & 1)
    # A part named before names carried its days, or a plain folder's data.parquet.
    listed = pl.read_parquet_metadata(path).get(DAYS_KEY, "")
    return frozenset(date.fromisoformat(day) for day in listed.split(",") if day)


def days_metadata(days: set[date] | frozenset[date]) -> dict[str, str]:
    return {DAYS_KEY: ",".join(day.isoformat() for day in sorted(days))}


def parts(folder: Path) -> list[Part]:
    """The month's parts, oldest first day first (none if the month was never exported).
    Paths go through the `month=` link, as a reader's glob sees them."""
    if not folder.is_dir():
        return []
    found = [
        Part(folder / name, part_days(folder / name))
        for name in os.listdir(folder)
        if name.endswith(PART_SUFFIX) and not name.startswith(".")
    ]
    return sorted(found, key=lambda p: (min(p.days, default=date.min), p.path.name))


def covered_days(folder: Path) -> set[date]:
    return {day for part in parts(folder) for day in part.days}


def part_of(root: Path, table: str, tenant_id: str, day: date) -> Part | None:
    """The part holding the tenant's rows of `table` for `day`; None if never exported."""
    holding = [p for p in parts(month_dir(root, table, tenant_id, day)) if day in p.days]
    return holding[0] if holding else None


def partition_days(root: Path, table: str, tenant_id: str) -> list[date]:
    """Days of `table` exported (rollups: with rows) for the tenant, oldest first."""
    if table in ROLLUP_TABLES:
        path = rollup_file(root, table, tenant_id)
        if not path.is_file():
            return []
        return sorted(set(pl.read_parquet(path, columns=["day"])["day"].to_list()))
    folders = month_dirs(root, table, tenant_id)
    return sorted({day for folder in folders for day in covered_days(folder)})


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
def locked(lock_file: Path) -> Iterator[None]:
    """One writer at a time for what `lock_file` guards (the schedule while a backfill
    runs)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


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
