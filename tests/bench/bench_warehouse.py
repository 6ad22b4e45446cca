"""The analytics warehouse against PostgreSQL: the daily rollup of enhancement_history.

Generates `--tenants` x `--days` x `--rows-per-day` rows in an embedded PostgreSQL with
generate_series (default 100 x 100 x 1,000 = 10,000,000; `--small` for 10 x 10 x 100),
plus two later days holding the same number of rows in a tenth of the tenants and in
all of them, and a later month of 28 days at a tenth of the rows per day, then, in this
one script:

  1. exports every tenant's days to Parquet as the Dagster assets do
     (export.export_days: per tenant one RLS-scoped transaction, COPY into Polars, one
     file per tenant and month);
  2. rolls them up as the assets do (rollups.write: one DuckDB statement over the
     parts for every tenant and day, merged with each tenant's kept rollup rows, each
     tenant's file written; then all three rollups, as the assets run them);
  3. runs the same aggregate as one `GROUP BY tenant_id, day` query on PostgreSQL;
  4. runs one day's export, check and three rollups for each of the two later days
     (few tenants, many tenants: the daily schedule's run of enhancement_history), as
     a new day and re-run, and what the files every tenant has of its own cost to
     write (the many-tenant day's files written again one per tenant, and the same rows
     in fewer files); then the daily runs of the later month, day by day, as the
     schedule makes them (each day a new part of the month); then each of the two
     days as the schedule's own run: one Dagster run of warehouse_daily's assets, on
     the SQLite run storage `aiops up` uses (the few-tenant day tagged with its tenants);
  5. materializes the four daily assets over the whole range as one Dagster run, as a
     single-run backfill from the UI does (`--no-backfill` skips it);

and prints wall and CPU times (this process's, and the PostgreSQL server's), the ratio,
export rows/s and whether every tenant/day partition of the two results is equal
(floats to 1e-9 relative). Dagster's own log goes to stderr.

    PYTHONPATH=. .venv/bin/python -m tests.bench.bench_warehouse [--small] 2>dagster.log
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl
import psycopg
from dagster import DagsterInstance, materialize
from psycopg.rows import dict_row

from aiops.crypto import SecretBox, generate_key, parse_key
from aiops.embedded import ServiceUrls, services
from aiops.settings import Settings
from assets.analytics.assets import (
    daily_rollups,
    enhancement_history_parquet,
    ticket_history_parquet,
)
from assets.analytics.scope import TENANTS_TAG
from assets.resources import PostgresResource, WarehouseResource
from warehouse import migrate, tenant_context
from warehouse.analytics import rollups
from warehouse.analytics.export import ENHANCEMENTS, PARQUET, export_days
from warehouse.analytics.layout import day_bounds, part_of, rollup_file
from warehouse.analytics.reconcile import compare_days
from warehouse.db import Database
from warehouse.tenant_context import context_keys

FIRST_DAY = date(2025, 3, 1)

T = TypeVar("T")

# One tenant's rows per statement. Statuses, sources and timings vary with the row
# number, so every aggregate has work; the four contexts are parsed once, not per row.
_GENERATE = """
WITH contexts AS (
    SELECT array_agg(c ORDER BY n) AS c FROM unnest(ARRAY[
        '{"sources": {"kb": "ok", "similar_tickets": "ok"}}',
        '{"sources": {"kb": "empty", "monitoring": "failed: timed out after 5s"}}',
        '{"sources": {}}',
        '{"sources": {"inventory": "skipped: not configured", "kb": "ok"}}'
    ]::jsonb[]) WITH ORDINALITY AS u(c, n)
)
INSERT INTO enhancement_history (
    tenant_id, event_id, ticket_id, source, kind, backfill, status, attempts, context,
    timings, prompt_tokens, completion_tokens, cost_usd, output, received_at, started_at,
    finished_at, created_at, updated_at, agent_id, agent_version)
SELECT %(tenant)s, %(prefix)s || x.i, 'T-' || (x.i / 3), 'servicedesk', 'created', x.i %% 50 = 0,
       (ARRAY['succeeded', 'succeeded', 'succeeded', 'stored', 'failed', 'processing'])
           [1 + x.i %% 6],
       1,
       contexts.c[1 + x.i %% 4],
       '{"total": 1.5}',
       CASE WHEN x.i %% 7 = 0 THEN NULL ELSE 50 + x.i %% 3950 END,
       CASE WHEN x.i %% 11 = 0 THEN NULL ELSE 10 + x.i %% 790 END,
       CASE WHEN x.i %% 13 = 0 THEN NULL ELSE (1 + x.i %% 99999) / 1000000.0 END,
       'note', x.ts, x.ts + interval '1 second',
       CASE WHEN x.i %% 6 = 5 THEN NULL
            ELSE x.ts + (1.2 + (x.i * 7919) %% 39800 / 1000.0) * interval '1 second'
       END,
       x.ts, x.ts + interval '1 minute', 'main', 1 + x.i %% 3
FROM contexts,
     generate_series(0, %(days)s::int8 * %(per_day)s::int8 - 1) AS g(k),
     LATERAL (
         SELECT %(n)s::int8 * %(days)s::int8 * %(per_day)s::int8 + g.k AS i,
                %(first)s::timestamptz + (g.k / %(per_day)s::int8) * interval '1 day'
                    + ((g.k %% %(per_day)s::int8) * 86399 / %(per_day)s::int8) * interval '1 second'
                    + (g.k %% 997) * interval '1 microsecond' AS ts
     ) AS x
"""

# Constraints and indexes are dropped while the rows go in and built once afterwards
# (one sort per index instead of ten million insertions); definitions are read back from
# the catalogue, so the table ends up exactly as the migrations made it.
_CONSTRAINTS = """
SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint
WHERE conrelid = 'enhancement_history'::regclass AND contype IN ('p', 'u', 'f')
ORDER BY contype DESC
"""
_INDEXES = """
SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS definition
FROM pg_index WHERE indrelid = 'enhancement_history'::regclass
  AND indexrelid NOT IN (SELECT conindid FROM pg_constraint WHERE conrelid = indrelid)
"""


# The same daily rollup as rollups._DAILY_SQL, in PostgreSQL.
_PG_DAILY = """
SELECT
    tenant_id,
    (created_at AT TIME ZONE 'UTC')::date AS day,
    count(*) AS enhancements,
    count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
    count(*) FILTER (WHERE status = 'stored') AS stored,
    count(*) FILTER (WHERE status = 'failed') AS failed,
    count(*) FILTER (WHERE status = 'processing') AS processing,
    count(*) FILTER (WHERE backfill) AS backfills,
    count(*) FILTER (WHERE status IN ('succeeded', 'stored'))::float8
        / nullif(count(*) FILTER (WHERE status <> 'processing'), 0) AS success_rate,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
        FILTER (WHERE status <> 'processing') AS p50_seconds,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
        FILTER (WHERE status <> 'processing') AS p95_seconds,
    coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
    coalesce(sum(completion_tokens), 0) AS completion_tokens,
    coalesce(sum(cost_usd), 0) AS cost_usd
FROM enhancement_history
WHERE created_at >= %s AND created_at < %s
GROUP BY 1, 2
"""


def _timed(label: str, fn: Callable[[], T]) -> tuple[T, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:<44} {wall:9.2f} s wall {cpu:9.2f} s CPU (this process)", flush=True)
    return result, wall, cpu


def _backend_cpu(conn: psycopg.Connection[dict[str, Any]]) -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend (same machine)."""
    row = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()
    assert row is not None
    fields = Path(f"/proc/{row['pid']}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_cpu(state: Path) -> float:
    """CPU seconds of the embedded PostgreSQL server: its live processes and those reaped."""
    pid = int(next(state.rglob("postmaster.pid")).read_text().split()[0])
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid or stat.parent.name == str(pid):
            total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick
    return total


@dataclass(frozen=True)
class Block:
    """`per_day` rows for each of `tenant_ids` on each of `days` days from `first`."""

    tenant_ids: list[str]
    first: date
    days: int
    per_day: int

    @property
    def rows(self) -> int:
        return len(self.tenant_ids) * self.days * self.per_day


def _generate(owner_url: str, blocks: list[Block]) -> None:
    """The rows, as the table owner: no RLS check or index maintenance per row, and the
    table UNLOGGED (this database is thrown away after the run; reads are unaffected)."""
    tenant_ids = sorted({t for block in blocks for t in block.tenant_ids})
    total = sum(block.rows for block in blocks)
    with psycopg.connect(owner_url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute("INSERT INTO tenants (tenant_id) SELECT unnest(%s::text[])", (tenant_ids,))
        conn.execute("ALTER TABLE enhancement_history SET UNLOGGED")
        constraints = conn.execute(_CONSTRAINTS).fetchall()
        indexes = conn.execute(_INDEXES).fetchall()
        for index in indexes:
            conn.execute(f"DROP INDEX {index['name']}")
        for constraint in constraints:
            conn.execute(f"ALTER TABLE enhancement_history DROP CONSTRAINT {constraint['name']}")
        began, done, step = time.perf_counter(), 0, max(1, total // 10)
        for b, block in enumerate(blocks):
            for n, tenant_id in enumerate(block.tenant_ids):
                conn.execute(
                    _GENERATE,
                    {
                        "tenant": tenant_id,
                        "prefix": f"e{b}-",
                        "n": n,
                        "days": block.days,
                        "per_day": block.per_day,
                        "first": day_bounds(block.first)[0],
                    },
                )
                before, done = done, done + block.days * block.per_day
                if done // step != before // step or done == total:
                    rate = done / (time.perf_counter() - began)
                    print(f"  generated {done:,}/{total:,} rows ({rate:,.0f} rows/s)", flush=True)
        conn.execute("SET maintenance_work_mem = '1GB'")
        for constraint in reversed(constraints):
            conn.execute(
                f"ALTER TABLE enhancement_history ADD CONSTRAINT {constraint['name']} "
                f"{constraint['definition']}"
            )
        for index in indexes:
            conn.execute(index["definition"])
        print(f"  constraints and {len(indexes)} indexes rebuilt", flush=True)
        conn.execute("VACUUM ANALYZE enhancement_history")


def _pg_rollup(
    owner_url: str, state: Path, days: list[date]
) -> tuple[dict[tuple[str, date], Any], float, float]:
    """The baseline as the table owner, who sees every tenant in one query. Its CPU is the
    whole server's: PostgreSQL scans and sorts in parallel workers beside the backend."""
    with psycopg.connect(owner_url, row_factory=dict_row) as conn:
        before, server_before = _backend_cpu(conn), _server_cpu(state)
        rows, wall, _ = _timed(
            "PostgreSQL: one GROUP BY tenant, day",
            lambda: conn.execute(
                _PG_DAILY, (day_bounds(days[0])[0], day_bounds(days[-1])[1])
            ).fetchall(),
        )
        backend, cpu = _backend_cpu(conn) - before, _server_cpu(state) - server_before
    print(f"{'  PostgreSQL server CPU (with workers)':<44} {cpu:9.2f} s ({backend:.2f} s backend)")
    return {(r["tenant_id"], r["day"]): r for r in rows}, wall, cpu


def _files(root: Path) -> int:
    return sum(1 for _ in (root / "parquet").glob(f"*/{ENHANCEMENTS}/month=*/*.parquet"))


def _written_rows(root: Path, days: list[date]) -> list[dict[str, Any]]:
    """The daily rollup rows of `days` as the warehouse stored them, every tenant's."""
    files = sorted((root / "parquet").glob(f"*/{rollups.DAILY}/*.parquet"))
    frame = pl.concat([pl.read_parquet(f) for f in files])
    return frame.filter(pl.col("day").is_between(days[0], days[-1])).to_dicts()


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _mismatches(ours: list[dict[str, Any]], theirs: dict[tuple[str, date], Any]) -> list[str]:
    found = []
    seen = set()
    for row in ours:
        key = (row["tenant_id"], row["day"])
        seen.add(key)
        expected = theirs.get(key)
        if expected is None:
            if row["enhancements"]:
                found.append(f"{key}: not in PostgreSQL")
            continue
        for name, value in expected.items():
            if not _close(row[name], value):
                found.append(f"{key} {name}: {row[name]!r} != {value!r}")
    found.extend(f"{key}: missing from the warehouse" for key in theirs.keys() - seen)
    return found


# warehouse_daily's assets: what the schedule and a backfill from the UI run.
_DAILY_ASSETS = [enhancement_history_parquet, ticket_history_parquet, daily_rollups]


def _resources(urls: ServiceUrls, key: str, state: Path) -> dict[str, Any]:
    return {
        "postgres": PostgresResource(database_url=urls.database_url, encryption_key=key),
        "warehouse": WarehouseResource(warehouse_dir=str(state / "warehouse")),
    }


def _backfill(urls: ServiceUrls, key: str, state: Path, days: list[date]) -> None:
    """What a single-run backfill of warehouse_daily launched from the UI runs: every
    daily asset over the range, in one run, with its checks."""
    resources = _resources(urls, key, state)
    server_before = _server_cpu(state)
    with DagsterInstance.ephemeral() as instance:
        result, _, _ = _timed(
            "backfill: one Dagster run, all daily assets",
            lambda: materialize(
                _DAILY_ASSETS,
                instance=instance,
                resources=resources,
                tags={
                    "dagster/asset_partition_range_start": days[0].isoformat(),
                    "dagster/asset_partition_range_end": days[-1].isoformat(),
                },
            ),
        )
        checks = result.get_asset_check_evaluations()
        progress = [
            e for e in instance.all_logs(result.run_id) if "tenant" in (e.user_message or "")
        ]
    print(f"{'  PostgreSQL server CPU':<44} {_server_cpu(state) - server_before:9.2f} s")
    print(
        f"  run {'succeeded' if result.success else 'FAILED'}; "
        f"{sum(c.passed for c in checks)}/{len(checks)} matches_postgres checks passed; "
        f"{len(progress)} progress lines in the run's log",
        flush=True,
    )


def _scheduled_runs(urls: ServiceUrls, key: str, state: Path, wide: Block, narrow: Block) -> None:
    """The daily schedule's run itself: warehouse_daily's assets for one day as one Dagster
    run, with the run storage `aiops up` uses (SQLite), for the few-tenant and the
    many-tenant day; each day re-run three times (its fastest run). The few-tenant day's
    run is tagged with its tenants (the `aiops/tenants` tag), so that it covers those
    tenants only, as a run of an installation that has no others would."""
    resources = _resources(urls, key, state)
    fastest = []
    with (
        tempfile.TemporaryDirectory(prefix="aiops-bw-dagster-") as home,
        DagsterInstance.local_temp(home) as instance,
    ):
        for block in (wide, narrow):
            walls = []
            for _ in range(3):
                began = time.perf_counter()
                result = materialize(
                    _DAILY_ASSETS,
                    instance=instance,
                    resources=resources,
                    partition_key=block.first.isoformat(),
                    tags={} if block is narrow else {TENANTS_TAG: ",".join(block.tenant_ids)},
                )
                walls.append(time.perf_counter() - began)
                assert result.success
            lines = sum(1 for e in instance.all_logs(result.run_id) if e.user_message)
            fastest.append(min(walls))
            print(
                f"scheduled run (one Dagster run), {len(block.tenant_ids)} tenants x "
                f"{block.per_day:,} rows: {min(walls):.2f} s wall (fastest of 3), "
                f"{lines} log lines",
                flush=True,
            )
    per_tenant = (fastest[1] - fastest[0]) / (len(narrow.tenant_ids) - len(wide.tenant_ids))
    print(
        f"scheduled run: {fastest[1] / fastest[0]:.2f}x the time for {len(narrow.tenant_ids)} "
        f"tenants as for {len(wide.tenant_ids)}, same rows; a tenant adds "
        f"{per_tenant * 1000:.1f} ms",
        flush=True,
    )


def _daily_run(db: Database, root: Path, tenant_ids: list[str], day: date) -> None:
    """What the daily schedule runs of enhancement_history for `day`: the export, its
    matches_postgres check and the three rollups."""
    export_days(db, root, ENHANCEMENTS, tenant_ids, [day])
    assert not compare_days(db, root, ENHANCEMENTS, tenant_ids, [day])
    rollups.write_all(root, rollups.TABLES, tenant_ids, [day])


def _schedule_scaling(db: Database, state: Path, wide: Block, narrow: Block) -> float:
    """A daily run of enhancement_history (what the assets call: the export, its
    matches_postgres check, the three rollups) for one day of the same number of rows
    held by few tenants and by many: first as the schedule runs it (a day not exported
    yet), then re-run (every file of the day replaced), three times; then what a tenant
    and what 1,000 rows add to a run, for each kind (the re-run: its fastest time).
    Returns the seconds a tenant adds to a re-run."""
    root = state / "warehouse"
    times: dict[str, list[float]] = {"new day": [], "re-run": []}
    for block in (wide, narrow):
        walls = []
        for run in range(4):
            server_before = _server_cpu(state)
            kind = "new day" if run == 0 else "re-run"
            label = f"daily run ({kind}), {len(block.tenant_ids)} tenants x {block.per_day:,} rows"
            _, wall, _ = _timed(label, partial(_daily_run, db, root, block.tenant_ids, block.first))
            walls.append(wall)
            print(f"{'  PostgreSQL server CPU':<44} {_server_cpu(state) - server_before:9.2f} s")
        times["new day"].append(walls[0])
        times["re-run"].append(min(walls[1:]))
    added = len(narrow.tenant_ids) - len(wide.tenant_ids)
    tenant_adds = {}
    for kind, (few, many) in times.items():
        per_tenant = tenant_adds[kind] = (many - few) / added
        per_row = (few - per_tenant * len(wide.tenant_ids)) / wide.rows
        print(
            f"daily run ({kind}): {many / few:.2f}x the time for {len(narrow.tenant_ids)} "
            f"tenants as for {len(wide.tenant_ids)}, same rows; a tenant adds "
            f"{per_tenant * 1000:.1f} ms, 1,000 rows add {per_row * 1e6:.1f} ms",
            flush=True,
        )
    return tenant_adds["re-run"]


def _fastest_cpu(fn: Callable[[], object]) -> float:
    """CPU seconds of this process for `fn`, the fastest of three tries."""
    tries = []
    for _ in range(3):
        began = time.process_time()
        fn()
        tries.append(time.process_time() - began)
    return min(tries)


def _write_and_read(frames: list[pl.DataFrame], folder: Path) -> tuple[float, float]:
    """CPU seconds to write each frame as a Parquet file, as the warehouse writes them,
    and for DuckDB to read them all back (one column of every row) in one query of an
    open connection."""
    paths = [str(folder / f"{n}.parquet") for n in range(len(frames))]

    def write() -> None:
        for frame, path in zip(frames, paths, strict=True):
            frame.write_parquet(path, **PARQUET)

    with duckdb.connect() as conn:

        def read() -> None:
            conn.execute(
                "SELECT count(day) FROM read_parquet(?, union_by_name = true)", [paths]
            ).fetchall()

        return _fastest_cpu(write), _fastest_cpu(read)


def _file_floor(root: Path, wide: Block, narrow: Block, per_tenant: float) -> None:
    """What the files every tenant has of its own cost however few rows they hold,
    beside what a tenant adds to a daily run: the many-tenant day's parts and the
    tenants' three rollup files written again and read back, one file per tenant, and
    the same rows in as many files as the few-tenant day has tenants."""
    groups = len(wide.tenant_ids)
    per_group = len(narrow.tenant_ids) // groups
    tables: dict[str, list[pl.DataFrame]] = {"part": [], **{t: [] for t in rollups.TABLES}}
    for tenant_id in narrow.tenant_ids:
        part = part_of(root, ENHANCEMENTS, tenant_id, narrow.first)
        assert part is not None
        tables["part"].append(pl.read_parquet(part.path))
        for table in rollups.TABLES:
            tables[table].append(pl.read_parquet(rollup_file(root, table, tenant_id)))
    print("files: the many-tenant day's files written and read again (CPU, fastest of 3)")
    written = read = 0.0
    with tempfile.TemporaryDirectory(prefix="aiops-bw-files-") as tmp:
        for label, frames in tables.items():
            together = [
                pl.concat(frames[n * per_group : (n + 1) * per_group]) for n in range(groups)
            ]
            each = _write_and_read(frames, Path(tmp))
            fewer = _write_and_read(together, Path(tmp))
            extra = len(frames) - groups
            write_cost, read_cost = ((e - f) / extra for e, f in zip(each, fewer, strict=True))
            written, read = written + write_cost, read + read_cost
            print(
                f"  {label:<28} {len(frames)} files: write {each[0] * 1000:6.1f} ms, read "
                f"{each[1] * 1000:5.1f} ms; the same rows in {groups}: {fewer[0] * 1000:6.1f} "
                f"ms, {fewer[1] * 1000:5.1f} ms; a file costs {write_cost * 1000:.2f} + "
                f"{read_cost * 1000:.2f} ms",
                flush=True,
            )
    print(
        f"a tenant's four files cost {written * 1000:.1f} ms to write and {read * 1000:.1f} ms "
        f"to read once, whatever their rows; a tenant adds {per_tenant * 1000:.1f} ms to "
        "the daily run (re-run)",
        flush=True,
    )


def _through_a_month(db: Database, state: Path, month: Block) -> None:
    """The schedule's daily runs through a month, each day a new part: a day's run must not
    grow as the month's parts accumulate."""
    root = state / "warehouse"
    walls = []
    for n in range(month.days):
        began = time.perf_counter()
        _daily_run(db, root, month.tenant_ids, month.first + timedelta(days=n))
        walls.append(time.perf_counter() - began)
    early, late = statistics.median(walls[1:4]), statistics.median(walls[-3:])
    print(
        f"daily runs through a month, {len(month.tenant_ids)} tenants x {month.per_day:,} rows: "
        f"days 2-4 {early:.2f} s, days {month.days - 2}-{month.days} {late:.2f} s "
        f"(median), {late / early:.2f}x",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--rows-per-day", type=int, default=1_000, help="per tenant")
    parser.add_argument("--small", action="store_true", help="10 tenants x 10 days x 100 rows")
    parser.add_argument(
        "--no-backfill", action="store_true", help="skip the Dagster run over the range"
    )
    args = parser.parse_args()
    if args.small:
        args.tenants, args.days, args.rows_per_day = 10, 10, 100
    total = args.tenants * args.days * args.rows_per_day
    print(
        f"{args.tenants} tenants x {args.days} days x {args.rows_per_day} rows = {total:,} rows; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (shared machine)",
        flush=True,
    )
    tenant_ids = [f"bench-{n:04d}" for n in range(1, args.tenants + 1)]
    days = [FIRST_DAY + timedelta(days=i) for i in range(args.days)]
    main_block = Block(tenant_ids, FIRST_DAY, args.days, args.rows_per_day)
    # After the range: one day's rows in a tenth of the tenants, then in all of them.
    few = tenant_ids[: max(1, args.tenants // 10)]
    per_day = args.rows_per_day * args.tenants // len(few)
    wide = Block(few, days[-1] + timedelta(days=2), 1, per_day)
    narrow = Block(tenant_ids, days[-1] + timedelta(days=3), 1, args.rows_per_day)
    later_month = (narrow.first.replace(day=1) + timedelta(days=32)).replace(day=1)
    month = Block(tenant_ids, later_month, 28, max(1, args.rows_per_day // 10))
    key = generate_key()
    with tempfile.TemporaryDirectory(prefix="aiops-bw-", dir="/tmp") as tmp:
        state = Path(tmp)
        with services(Settings(state_dir=state / "state")) as urls:
            migrate.upgrade(urls.migration_database_url)
            migrate.allow_app_login(urls.migration_database_url)
            keys = context_keys(SecretBox(parse_key(key)))
            tenant_context.install(urls.migration_database_url, keys)
            _timed(
                "generate (generate_series, indexes after)",
                lambda: _generate(urls.migration_database_url, [main_block, wide, narrow, month]),
            )
            root = state / "warehouse"
            with Database(urls.database_url, keys.signing, min_size=1, max_size=2) as db:
                server_before = _server_cpu(state)
                exports, export_wall, export_cpu = _timed(
                    "export: export_days (per tenant under RLS)",
                    lambda: export_days(db, root, ENHANCEMENTS, tenant_ids, days),
                )
                server_cpu = _server_cpu(state) - server_before
                exported = sum(e.rows for e in exports)
                print(f"{'  PostgreSQL server CPU during the export':<44} {server_cpu:9.2f} s")
                print(
                    f"{'  exported':<44} {exported:,} rows, {args.tenants * args.days:,} "
                    f"tenant/day partitions in {_files(root):,} files, "
                    f"{exported / export_wall:,.0f} rows/s (wall), "
                    f"{exported / (export_cpu + server_cpu):,.0f} rows per CPU second "
                    "(this process + server)",
                    flush=True,
                )
                _, rollup_wall, rollup_cpu = _timed(
                    "rollup: rollups.write (one DuckDB statement)",
                    lambda: rollups.write(root, rollups.DAILY, tenant_ids, days),
                )
                _timed(
                    "  (all three rollups, as the assets run them)",
                    lambda: rollups.write_all(root, rollups.TABLES, tenant_ids, days),
                )
                theirs, pg_wall, pg_cpu = _pg_rollup(urls.migration_database_url, state, days)
                print(f"ratio (wall): PostgreSQL / warehouse rollup = {pg_wall / rollup_wall:.1f}x")
                print(f"ratio (CPU):  PostgreSQL / warehouse rollup = {pg_cpu / rollup_cpu:.1f}x")
                ours = _written_rows(root, days)
                bad = _mismatches(ours, theirs)
                partitions = len(ours)
                print(
                    f"equality: {partitions - len({b.split(' ')[0] for b in bad}):,}/"
                    f"{partitions:,} tenant/day partitions equal"
                    + ("" if not bad else f"; first differences: {bad[:5]}"),
                    flush=True,
                )
                per_tenant = _schedule_scaling(db, state, wide, narrow)
                _file_floor(root, wide, narrow, per_tenant)
                _through_a_month(db, state, month)
            _scheduled_runs(urls, key, state, wide, narrow)
            if not args.no_backfill:
                _backfill(urls, key, state, days)


if __name__ == "__main__":
    main()
