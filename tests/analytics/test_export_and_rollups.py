from __future__ import annotations

import math
import os
import re
import shutil
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from aiops.crypto import SecretBox
from tests.analytics import seed
from warehouse.analytics import duck, export, rollups
from warehouse.analytics.export import (
    ENHANCEMENTS,
    TICKETS,
    export_partition,
    export_tenant_days,
    source_outcomes,
)
from warehouse.analytics.layout import (
    Part,
    days_metadata,
    month_dir,
    part_of,
    parts,
    tenant_dir,
)
from warehouse.analytics.reconcile import parquet_day, parquet_days, postgres_day, postgres_days
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


def _month_listing(warehouse_dir: Path, tenant_id: str) -> list[str]:
    """The table folder's entries, generation tokens replaced by <g>."""
    folder = tenant_dir(warehouse_dir, tenant_id) / ENHANCEMENTS
    return sorted(re.sub(r"\.[0-9a-f]{8}$", ".<g>", name) for name in os.listdir(folder))


def _parts(warehouse_dir: Path, tenant_id: str, day: date) -> list[Part]:
    return parts(month_dir(warehouse_dir, ENHANCEMENTS, tenant_id, day))


def test_rerunning_a_partition_replaces_exactly_its_day(
    db: Database, box: SecretBox, tenant_id: str, warehouse_dir: Path
) -> None:
    seed.tenant(db, box, tenant_id)
    # Two days of one month (two parts) and the last day of the month before.
    month = (seed.today().replace(day=1) - timedelta(days=1)).replace(day=1)
    day, neighbour = month + timedelta(days=10), month + timedelta(days=9)
    earlier = month - timedelta(days=1)
    with db.tenant(tenant_id) as conn:
        seed.enhancement(conn, "a", seed.at(day))
        seed.enhancement(conn, "b", seed.at(neighbour))
        seed.enhancement(conn, "z", seed.at(earlier))
        for d in (day, neighbour, earlier):
            export_partition(conn, warehouse_dir, ENHANCEMENTS, tenant_id, d)
    other_month = _parts(warehouse_dir, tenant_id, earlier)
    other_bytes = [p.path.read_bytes() for p in other_month]
    before = part_of(warehouse_dir, ENHANCEMENTS, tenant_id, neighbour)
    assert before is not None
    before_bytes = before.path.read_bytes()

    with db.tenant(tenant_id) as conn:
        seed.enhancement(conn, "c", seed.at(day, 18))
        seed.enhancement(conn, "b2", seed.at(neighbour, 18))  # not exported: day not re-run
        again = export_partition(conn, warehouse_dir, ENHANCEMENTS, tenant_id, day)

    frame = pl.read_parquet(again.path)
    assert again.rows == 2
    assert sorted(frame["event_id"]) == ["a", "c"]
    month_parts = _parts(warehouse_dir, tenant_id, day)
    assert [p.days for p in month_parts] == [{neighbour}, {day}]
    assert month_parts[0].path.name == before.path.name
    assert month_parts[0].path.read_bytes() == before_bytes
    assert [p.path.read_bytes() for p in _parts(warehouse_dir, tenant_id, earlier)] == other_bytes
    assert parquet_day(warehouse_dir, ENHANCEMENTS, tenant_id, day + timedelta(days=1)) is None
    names = [f"month={m:%Y-%m}" for m in (earlier, month)]
    assert _month_listing(warehouse_dir, tenant_id) == sorted(
        [*names, *(f".{n}.<g>" for n in names), *(f".{n}.lock" for n in names)]
    )


def _last_month_days(
    db: Database, box: SecretBox, tenant_id: str, offsets: tuple[int, ...]
) -> tuple[date, list[date]]:
    """The first of last month and its days at `offsets`, one enhancement `e<n>` each."""
    seed.tenant(db, box, tenant_id)
    month = (seed.today().replace(day=1) - timedelta(days=1)).replace(day=1)
    days = [month + timedelta(days=n) for n in offsets]
    with db.tenant(tenant_id) as conn:
        for n, d in enumerate(days):
            seed.enhancement(conn, f"e{n}", seed.at(d))
    return month, days


def test_a_day_inside_a_part_of_several_days_is_replaced_alone(
    db: Database, box: SecretBox, tenant_id: str, warehouse_dir: Path
) -> None:
    month, days = _last_month_days(db, box, tenant_id, (3, 4, 5))
    with db.tenant(tenant_id) as conn:
        export_tenant_days(conn, warehouse_dir, ENHANCEMENTS, tenant_id, days)
        assert [p.days for p in _parts(warehouse_dir, tenant_id, month)] == [set(days)]
        seed.enhancement(conn, "e1-later", seed.at(days[1], 20))
        export_partition(conn, warehouse_dir, ENHANCEMENTS, tenant_id, days[1])

    (only,) = _parts(warehouse_dir, tenant_id, month)
    assert only.days == set(days)
    frame = pl.read_parquet(only.path)
    assert frame["event_id"].to_list() == ["e0", "e1", "e1-later", "e2"]


def test_the_run_covering_the_months_last_day_folds_the_month_into_one_part(
    db: Database, box: SecretBox, tenant_id: str, warehouse_dir: Path
) -> None:
    length = (seed.today().replace(day=1) - timedelta(days=1)).day
    month, days = _last_month_days(db, box, tenant_id, (0, 1, length - 2, length - 1))
    last = days[-1]
    with db.tenant(tenant_id) as conn:
        for d in days[:-1]:
            export_partition(conn, warehouse_dir, ENHANCEMENTS, tenant_id, d)
        assert len(_parts(warehouse_dir, tenant_id, month)) == 3
        export_partition(conn, warehouse_dir, ENHANCEMENTS, tenant_id, last)
        in_postgres = postgres_days(conn, ENHANCEMENTS, month)

    (only,) = _parts(warehouse_dir, tenant_id, month)
    assert only.days == set(days)
    assert pl.read_parquet(only.path)["event_id"].to_list() == ["e0", "e1", "e2", "e3"]
    assert parquet_days(warehouse_dir, ENHANCEMENTS, tenant_id) == in_postgres


def test_leftovers_of_a_killed_writer_go_and_an_old_month_folder_is_taken_over(
    db: Database, box: SecretBox, tenant_id: str, warehouse_dir: Path
) -> None:
    month, (old_day, day) = _last_month_days(db, box, tenant_id, (2, 3))
    with db.tenant(tenant_id) as conn:
        exported = export_partition(conn, warehouse_dir, ENHANCEMENTS, tenant_id, old_day)
    # As the previous release left a month: a plain folder holding data.parquet.
    folder = month_dir(warehouse_dir, ENHANCEMENTS, tenant_id, month)
    rows = pl.read_parquet(exported.path)
    folder.unlink()
    shutil.rmtree(folder.with_name(f".{folder.name}.{exported.path.name.split('.')[1]}"))
    folder.mkdir()
    rows.write_parquet(folder / "data.parquet", metadata=days_metadata({old_day}))
    # What a writer killed half-way leaves.
    (folder.parent / f".{folder.name}.deadbeef").mkdir()
    (folder.parent / f".{folder.name}.link-deadbeef").symlink_to(".nowhere")

    with db.tenant(tenant_id) as conn:
        export_partition(conn, warehouse_dir, ENHANCEMENTS, tenant_id, day)

    assert folder.is_symlink()
    assert [p.days for p in _parts(warehouse_dir, tenant_id, month)] == [{old_day}, {day}]
    found = duck.run_query(warehouse_dir, "SELECT event_id FROM enhancement_history", tenant_id)
    assert sorted(r[0] for r in found.rows) == ["e0", "e1"]
    name = f"month={month:%Y-%m}"
    assert _month_listing(warehouse_dir, tenant_id) == [f".{name}.<g>", f".{name}.lock", name]


def test_dropping_days_keeps_the_rest_of_their_parts(
    db: Database, box: SecretBox, tenant_id: str, warehouse_dir: Path
) -> None:
    month, days = _last_month_days(db, box, tenant_id, (1, 2, 6))
    with db.tenant(tenant_id) as conn:
        export_tenant_days(conn, warehouse_dir, ENHANCEMENTS, tenant_id, days[:2])
        export_partition(conn, warehouse_dir, ENHANCEMENTS, tenant_id, days[2])

    export.drop_days(warehouse_dir, ENHANCEMENTS, tenant_id, [days[0]])
    left = _parts(warehouse_dir, tenant_id, month)
    assert [p.days for p in left] == [{days[1]}, {days[2]}]
    assert pl.read_parquet(left[0].path)["event_id"].to_list() == ["e1"]

    export.drop_days(warehouse_dir, ENHANCEMENTS, tenant_id, days[1:])
    assert not month_dir(warehouse_dir, ENHANCEMENTS, tenant_id, month).exists()
    assert parquet_days(warehouse_dir, ENHANCEMENTS, tenant_id) == {}


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
    part = part_of(warehouse_dir, ENHANCEMENTS, tenant_id, day)
    assert part is not None
    frame = pl.read_parquet(part.path)
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

    written = rollups.write(warehouse_dir, rollups.AGENTS, [tenant_id], [day])

    stored = pl.read_parquet(written.files[tenant_id].path)
    rows = stored.sort("agent_id", "agent_version").to_dicts()
    assert written.rows == len(rows) and written.files[tenant_id].rows == len(rows)
    assert len(expected) >= 3 and len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert (row["tenant_id"], row["day"]) == (tenant_id, day)
        for name, value in want.items():
            assert _close(row[name], value), (name, row[name], value)
    assert sum(r["enhancements"] for r in rows) < 40
    assert stored.equals(rollups.frames(warehouse_dir, rollups.AGENTS, [tenant_id], [day]))


def test_a_row_of_another_tenant_in_a_batch_stops_the_batch_before_any_write(
    db: Database, box: SecretBox, tenant_id: str, warehouse_dir: Path
) -> None:
    mine, theirs = seed.tenant(db, box, tenant_id), seed.tenant(db, box, tenant_id + "-b")
    day = seed.today() - timedelta(days=2)
    read = {}
    for tid in (mine, theirs):
        with db.tenant(tid) as conn:
            seed.enhancement(conn, f"{tid}-1", seed.at(day))
            read[tid] = export.read_days(conn, ENHANCEMENTS, tid, day, day)
    # What a role that bypassed row-level security would hand over: their row, read
    # under my context.
    forged = read[theirs].replace(f",{theirs}\n".encode(), f",{mine}\n".encode())
    assert forged != read[theirs]
    batch = [
        export._Month(mine, [day], read[mine]),
        export._Month(mine, [day], forged),
    ]

    with pytest.raises(export.CrossTenantRowError, match="rows of another tenant"):
        export._write_batch(warehouse_dir, ENHANCEMENTS, batch)
    assert not warehouse_dir.exists()


def test_one_rollup_statement_writes_every_tenants_own_file(
    db: Database, box: SecretBox, tenant_id: str, warehouse_dir: Path
) -> None:
    tenants = [seed.tenant(db, box, f"{tenant_id}-{n}") for n in range(3)]
    day = seed.today() - timedelta(days=2)
    for n, tid in enumerate(tenants):
        with db.tenant(tid) as conn:
            seed.random_day(conn, day, 5 + n, seed=40 + n, prefix=tid)
            export_partition(conn, warehouse_dir, ENHANCEMENTS, tid, day)

    written = rollups.write(warehouse_dir, rollups.DAILY, tenants, [day])

    assert written.rows == 3 and written.enhancements == 5 + 6 + 7
    for n, tid in enumerate(tenants):
        stored = pl.read_parquet(written.files[tid].path)
        assert stored.select("tenant_id", "day", "enhancements").rows() == [(tid, day, 5 + n)]
        assert [p.name for p in written.files[tid].path.parent.iterdir()] == ["data.parquet"]
    assert sorted(p.name for p in (warehouse_dir / "parquet").iterdir()) == [
        f".{rollups.DAILY}.lock",
        *(f"tenant_id={tid}" for tid in sorted(tenants)),
    ]
