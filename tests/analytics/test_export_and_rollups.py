from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl

from aiops.crypto import SecretBox
from tests.analytics import seed
from warehouse.analytics import rollups
from warehouse.analytics.export import ENHANCEMENTS, TICKETS, export_partition, source_outcomes
from warehouse.analytics.layout import covered_days, partition_file
from warehouse.analytics.reconcile import parquet_day, postgres_day
from warehouse.db import Database

_PG_DAILY = """
SELECT
    count(*) AS enhancements,
    count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
    count(*) FILTER (WHERE status = 'stored') AS stored,
    count(*) FILTER (WHERE status = 'failed') AS failed,
    count(*) FILTER (WHERE status = 'skipped') AS skipped,
    count(*) FILTER (WHERE status = 'processing') AS processing,
    count(*) FILTER (WHERE backfill) AS backfills,
    count(*) FILTER (WHERE status IN ('succeeded', 'stored'))::float8
        / nullif(count(*) FILTER (WHERE status IN ('succeeded', 'stored', 'failed')), 0)
        AS success_rate,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
        FILTER (WHERE status NOT IN ('processing', 'skipped')) AS p50_seconds,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
        FILTER (WHERE status NOT IN ('processing', 'skipped')) AS p95_seconds,
    coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
    coalesce(sum(completion_tokens), 0) AS completion_tokens,
    coalesce(sum(cost_usd), 0) AS cost_usd
FROM enhancement_history WHERE created_at >= %s AND created_at < %s
"""

_PG_SOURCES = """
SELECT s.key AS source,
       count(*) FILTER (WHERE split_part(s.value, ':', 1) = 'ok') AS ok,
       count(*) FILTER (WHERE split_part(s.value, ':', 1) = 'empty') AS empty,
       count(*) FILTER (WHERE split_part(s.value, ':', 1) = 'failed') AS failed,
       count(*) FILTER (WHERE split_part(s.value, ':', 1) = 'skipped') AS skipped
FROM enhancement_history, jsonb_each_text(context -> 'sources') AS s
WHERE created_at >= %s AND created_at < %s
GROUP BY s.key ORDER BY s.key
"""


def test_source_outcomes_keep_the_kind_of_outcome_only() -> None:
    outcomes = source_outcomes({"sources": {"kb": "failed: 503 from kb", "monitoring": "ok"}})
    assert outcomes == [
        {"source": "kb", "outcome": "failed"},
        {"source": "monitoring", "outcome": "ok"},
    ]
    assert source_outcomes({}) == []


def test_partition_holds_exactly_the_tenants_rows_of_the_day(
    db: Database, box: SecretBox, tenant_id: str, warehouse_dir: Path
) -> None:
    other = seed.tenant(db, box, tenant_id + "-b")
    seed.tenant(db, box, tenant_id)
    day = seed.today() - timedelta(days=2)
    with db.tenant(tenant_id) as conn:
        seed.enhancement(conn, "first", seed.at(day, 0, 0, 0))
        seed.enhancement(conn, "last", seed.at(day, 23, 59, 59))
        seed.enhancement(conn, "next-day", seed.at(day + timedelta(days=1), 0, 0, 0))
        seed.enhancement(conn, "day-before", seed.at(day, 0) - timedelta(microseconds=1))
    with db.tenant(other) as conn:
        seed.enhancement(conn, "other-tenant", seed.at(day))

    with db.tenant(tenant_id) as conn:
        exported = export_partition(conn, warehouse_dir, ENHANCEMENTS, tenant_id, day)

    frame = pl.read_parquet(exported.path)
    assert exported.rows == 2
    assert sorted(frame["event_id"]) == ["first", "last"]
    assert set(frame["tenant_id"]) == {tenant_id}
    assert set(frame["day"]) == {day}
    assert frame["processing_seconds"].to_list() == [2.5, 2.5]
    assert frame["cost_usd"].to_list() == [Decimal("0.001250")] * 2


def test_rerunning_a_partition_replaces_exactly_its_day(
    db: Database, box: SecretBox, tenant_id: str, warehouse_dir: Path
) -> None:
    seed.tenant(db, box, tenant_id)
    # Two days of one month (one file) and a day of the month before (another file).
    month = (seed.today().replace(day=1) - timedelta(days=1)).replace(day=1)
    day, neighbour = month + timedelta(days=10), month + timedelta(days=9)
    earlier = month - timedelta(days=1)
    with db.tenant(tenant_id) as conn:
        seed.enhancement(conn, "a", seed.at(day))
        seed.enhancement(conn, "b", seed.at(neighbour))
        seed.enhancement(conn, "z", seed.at(earlier))
        for d in (day, neighbour, earlier):
            export_partition(conn, warehouse_dir, ENHANCEMENTS, tenant_id, d)
    other_month = partition_file(warehouse_dir, ENHANCEMENTS, tenant_id, earlier)
    other_bytes = other_month.read_bytes()
    before = pl.read_parquet(partition_file(warehouse_dir, ENHANCEMENTS, tenant_id, neighbour))

    with db.tenant(tenant_id) as conn:
        seed.enhancement(conn, "c", seed.at(day, 18))
        seed.enhancement(conn, "b2", seed.at(neighbour, 18))  # not exported: day not re-run
        again = export_partition(conn, warehouse_dir, ENHANCEMENTS, tenant_id, day)

    frame = pl.read_parquet(again.path)
    assert again.rows == 2
    assert sorted(frame.filter(pl.col("day") == day)["event_id"]) == ["a", "c"]
    kept = frame.filter(pl.col("day") == neighbour)
    assert kept.equals(before.filter(pl.col("day") == neighbour))
    assert kept["event_id"].to_list() == ["b"]
    assert other_month.read_bytes() == other_bytes
    assert covered_days(again.path) == {day, neighbour}
    assert parquet_day(warehouse_dir, ENHANCEMENTS, tenant_id, day + timedelta(days=1)) is None
    leftovers = sorted(p.name for p in again.path.parent.iterdir())
    assert leftovers == [".lock", "data.parquet"]


def test_ticket_partitions_follow_the_ticket_creation_day(
    db: Database, box: SecretBox, tenant_id: str, warehouse_dir: Path
) -> None:
    seed.tenant(db, box, tenant_id)
    day = seed.today() - timedelta(days=5)
    with db.tenant(tenant_id) as conn:
        seed.ticket(conn, "T-1", seed.at(day, 9), category="network")
        seed.ticket(conn, "T-2", seed.at(day + timedelta(days=1), 9))
        exported = export_partition(conn, warehouse_dir, TICKETS, tenant_id, day)
        in_postgres = postgres_day(conn, TICKETS, day)
    frame = pl.read_parquet(exported.path)
    assert frame["ticket_id"].to_list() == ["T-1"]
    assert frame["category"].to_list() == ["network"]
    assert parquet_day(warehouse_dir, TICKETS, tenant_id, day) == in_postgres


def _close(a: object, b: object) -> bool:
    """Equal, with float rounding allowed (percentiles are computed in floating point)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def test_duckdb_rollups_equal_postgres_aggregates(
    db: Database, box: SecretBox, tenant_id: str, warehouse_dir: Path
) -> None:
    seed.tenant(db, box, tenant_id)
    day = seed.today() - timedelta(days=3)
    with db.tenant(tenant_id) as conn:
        seed.random_day(conn, day, 60, seed=7)
        seed.random_day(conn, day + timedelta(days=1), 10, seed=8)
        export_partition(conn, warehouse_dir, ENHANCEMENTS, tenant_id, day)
        expected = conn.execute(_PG_DAILY, seed.day_bounds(day)).fetchone()
        expected_sources = conn.execute(_PG_SOURCES, seed.day_bounds(day)).fetchall()

    _, row = rollups.write_daily(warehouse_dir, tenant_id, day)
    sources = rollups.sources_frame(warehouse_dir, tenant_id, day).to_dicts()

    assert expected is not None and expected["enhancements"] == 60
    assert row["tenant_id"] == tenant_id and row["day"] == day
    for name, value in expected.items():
        assert _close(row[name], value), (name, row[name], value)
    assert [{k: v for k, v in s.items() if k not in ("tenant_id", "day")} for s in sources] == [
        dict(s) for s in expected_sources
    ]


def test_a_day_without_enhancements_rolls_up_to_zeroes(
    db: Database, box: SecretBox, tenant_id: str, warehouse_dir: Path
) -> None:
    seed.tenant(db, box, tenant_id)
    day = seed.today()
    with db.tenant(tenant_id) as conn:
        export_partition(conn, warehouse_dir, ENHANCEMENTS, tenant_id, day)
    _, row = rollups.write_daily(warehouse_dir, tenant_id, day)
    assert row["enhancements"] == 0
    assert row["success_rate"] is None and row["p95_seconds"] is None
    assert row["cost_usd"] == Decimal(0)
    assert rollups.sources_frame(warehouse_dir, tenant_id, day).height == 0


def test_noise_is_counted_as_skipped_by_reason_and_not_against_the_success_rate(
    db: Database, box: SecretBox, tenant_id: str, warehouse_dir: Path
) -> None:
    seed.tenant(db, box, tenant_id)
    day = seed.today() - timedelta(days=2)
    with db.tenant(tenant_id) as conn:
        seed.enhancement(conn, "ok-1", seed.at(day, 9), status="succeeded")
        seed.enhancement(conn, "bad-1", seed.at(day, 10), status="failed")
        for i, reason in enumerate(("auto_reply", "auto_reply", "newsletter")):
            seed.enhancement(
                conn, f"noise-{i}", seed.at(day, 11, i), status="skipped", seconds=0.01
            )
            conn.execute(
                "UPDATE enhancement_history SET skip_reason = %s WHERE event_id = %s",
                (reason, f"noise-{i}"),
            )
        export_partition(conn, warehouse_dir, ENHANCEMENTS, tenant_id, day)

    _, row = rollups.write_daily(warehouse_dir, tenant_id, day)

    assert row["skipped"] == 3 and row["enhancements"] == 5
    assert row["success_rate"] == 0.5
    assert row["p50_seconds"] == 2.5
    frame = pl.read_parquet(partition_file(warehouse_dir, ENHANCEMENTS, tenant_id, day))
    reasons = frame.filter(pl.col("status") == "skipped")["skip_reason"].sort().to_list()
    assert reasons == ["auto_reply", "auto_reply", "newsletter"]


def test_a_rollup_file_from_before_the_skipped_column_is_merged_into(
    db: Database, box: SecretBox, tenant_id: str, warehouse_dir: Path
) -> None:
    seed.tenant(db, box, tenant_id)
    old_day, day = seed.today() - timedelta(days=5), seed.today() - timedelta(days=4)
    with db.tenant(tenant_id) as conn:
        seed.enhancement(conn, "old-1", seed.at(old_day, 9))
        seed.enhancement(conn, "new-1", seed.at(day, 9))
        export_partition(conn, warehouse_dir, ENHANCEMENTS, tenant_id, old_day)
        export_partition(conn, warehouse_dir, ENHANCEMENTS, tenant_id, day)
    written, _ = rollups.write_daily(warehouse_dir, tenant_id, old_day)
    # As an older release wrote it: no skipped column.
    pl.read_parquet(written.path).drop("skipped").write_parquet(written.path)

    rollups.write_daily(warehouse_dir, tenant_id, day)

    merged = pl.read_parquet(written.path).sort("day")
    assert merged["day"].to_list() == [old_day, day]
    assert merged["skipped"].to_list() == [None, 0]


_PG_AGENTS = """
SELECT agent_id, agent_version, count(*) AS enhancements,
       count(*) FILTER (WHERE status IN ('succeeded', 'stored')) AS succeeded,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY (timings ->> 'total')::float8)
           FILTER (WHERE status <> 'processing') AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY (timings ->> 'total')::float8)
           FILTER (WHERE status <> 'processing') AS p95_ms,
       coalesce(sum(cost_usd), 0) AS cost_usd
FROM enhancement_history
WHERE created_at >= %s AND created_at < %s AND agent_id IS NOT NULL
GROUP BY 1, 2 ORDER BY 1, 2
"""


def test_agent_version_rollup_equals_postgres_per_version(
    db: Database, box: SecretBox, tenant_id: str, warehouse_dir: Path
) -> None:
    seed.tenant(db, box, tenant_id)
    day = seed.today() - timedelta(days=3)
    with db.tenant(tenant_id) as conn:
        seed.random_day(conn, day, 40, seed=11)
        # Versions 1 and 2 of one agent and version 1 of another; a tenth have no agent.
        conn.execute(
            """
            UPDATE enhancement_history SET
                agent_id = CASE WHEN id % 3 = 0 THEN 'triage' ELSE 'main' END,
                agent_version = 1 + id % 2
            WHERE id % 10 <> 0
            """
        )
        export_partition(conn, warehouse_dir, ENHANCEMENTS, tenant_id, day)
        expected = conn.execute(_PG_AGENTS, seed.day_bounds(day)).fetchall()

    frames, written = rollups.write_agents_many(warehouse_dir, [tenant_id], [day])

    rows = frames.sort("agent_id", "agent_version").to_dicts()
    assert len(expected) >= 3 and len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert (row["tenant_id"], row["day"]) == (tenant_id, day)
        for name, value in want.items():
            assert _close(row[name], value), (name, row[name], value)
    assert sum(r["enhancements"] for r in rows) < 40
    assert pl.read_parquet(written[tenant_id].path).height == len(expected)
