from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
from dagster import AssetKey, DagsterInstance, Definitions, materialize

from aiops.crypto import SecretBox
from assets.analytics.assets import (
    analytics_duckdb,
    daily_rollups,
    enhancement_history_parquet,
    ticket_history_parquet,
)
from assets.analytics.checks import (
    _drift,
    enhancement_history_is_current,
    ticket_history_is_current,
)
from assets.analytics.schedules import warehouse_catalog
from assets.analytics.scope import TENANTS_TAG
from assets.partitions import TENANTS
from assets.ticket_index.assets import ticket_history_index
from tests.analytics import seed
from warehouse.analytics import duck
from warehouse.analytics.export import ENHANCEMENTS
from warehouse.db import Database

DAILY_ASSETS = [
    enhancement_history_parquet,
    ticket_history_parquet,
    daily_rollups,
]


# The token in a month generation's folder and part names (warehouse.analytics.months).
_GENERATION = re.compile(r"\.[0-9a-f]{8}\b")


def _files(root: Path) -> dict[str, str]:
    """What the warehouse holds where: Parquet files by their rows (a re-run writes the
    same rows, under a new generation's name), other files by their bytes."""

    def content(path: Path) -> str:
        if path.suffix == ".parquet":
            return str(pl.read_parquet(path).rows())
        return hashlib.sha256(path.read_bytes()).hexdigest()

    return {
        _GENERATION.sub(".<g>", str(p.relative_to(root))): content(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix != ".duckdb"
    }


def _views(root: Path, tenant_id: str) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: duck.run_query(root, f"SELECT * FROM {table} ORDER BY ALL", tenant_id).rows
        for table in duck.TABLES
    }


def _materialize_all(
    instance: DagsterInstance, resources: dict[str, Any], tenant_id: str, day_key: str
) -> dict[str, dict[str, Any]]:
    daily = materialize(DAILY_ASSETS, partition_key=day_key, instance=instance, resources=resources)
    index = materialize(
        [ticket_history_index], partition_key=tenant_id, instance=instance, resources=resources
    )
    catalog = materialize(
        [*DAILY_ASSETS, analytics_duckdb],
        selection=[analytics_duckdb],
        instance=instance,
        resources=resources,
    )
    assert daily.success and index.success and catalog.success
    for evaluation in daily.get_asset_check_evaluations():
        assert evaluation.passed, evaluation
    metadata = {}
    for result in (daily, index, catalog):
        for event in result.get_asset_materialization_events():
            mat = event.materialization
            metadata[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return metadata


def test_every_asset_materializes_for_a_tenant_day_and_a_rerun_changes_nothing(
    db: Database,
    box: SecretBox,
    tenant_id: str,
    instance: DagsterInstance,
    resources: dict[str, Any],
    warehouse_dir: Path,
) -> None:
    seed.tenant(db, box, tenant_id)
    day = seed.today() - timedelta(days=1)
    with db.tenant(tenant_id) as conn:
        seed.random_day(conn, day, 20, seed=3)
        seed.ticket(conn, "T-1", seed.at(day, 8), subject="VPN drops every hour", category="vpn")
        seed.ticket(conn, "T-2", seed.at(day, 9), subject="printer jam", category="printing")
    instance.add_dynamic_partitions(TENANTS, [tenant_id])
    key = day.isoformat()

    first = _materialize_all(instance, resources, tenant_id, key)
    assert set(first) == {
        "enhancement_history_parquet",
        "ticket_history_parquet",
        "enhancement_daily_rollup",
        "context_source_daily_rollup",
        "agent_version_daily_rollup",
        "ticket_history_index",
        "analytics_duckdb",
    }
    # A day partition holds every tenant (other tests' too): count this tenant's rows.
    counted = _views(warehouse_dir, tenant_id)
    assert len(counted["enhancement_history"]) == 20
    assert len(counted["ticket_history"]) == 2
    assert [r[2] for r in counted["daily_rollup"]] == [20]
    assert first["enhancement_history_parquet"]["rows"] >= 20
    assert first["enhancement_daily_rollup"]["enhancements"] >= 20
    assert first["ticket_history_index"]["rows_indexed"] == 2
    assert first["ticket_history_index"]["category_precision_at_5"] == 0.0
    assert first["analytics_duckdb"]["enhancement_history_rows"] >= 20
    files, views = _files(warehouse_dir), _views(warehouse_dir, tenant_id)

    again = _materialize_all(instance, resources, tenant_id, key)
    assert _files(warehouse_dir) == files
    assert _views(warehouse_dir, tenant_id) == views
    assert again["ticket_history_index"]["rebuilt"] is False
    assert again["ticket_history_index"]["rows_indexed"] == 0
    assert again["ticket_history_index"]["version"] == first["ticket_history_index"]["version"]
    for name in ("enhancement_history_parquet", "enhancement_daily_rollup"):
        assert again[name] == first[name]


def test_checks_flag_changed_and_unexported_days_until_they_are_rerun(
    db: Database,
    box: SecretBox,
    tenant_id: str,
    instance: DagsterInstance,
    resources: dict[str, Any],
    warehouse_dir: Path,
) -> None:
    seed.tenant(db, box, tenant_id)
    day, earlier = seed.today() - timedelta(days=2), seed.today() - timedelta(days=4)
    with db.tenant(tenant_id) as conn:
        seed.enhancement(conn, "a", seed.at(day))
    instance.add_dynamic_partitions(TENANTS, [tenant_id])
    exported = materialize(
        [enhancement_history_parquet],
        partition_key=day.isoformat(),
        instance=instance,
        resources=resources,
    )
    assert exported.success
    with db.tenant(tenant_id) as conn:
        conn.execute("UPDATE enhancement_history SET status = 'failed', updated_at = now()")
        seed.enhancement(conn, "b", seed.at(earlier))

    mine = [
        (d.day, d.parquet is None)
        for d in _drift(resources["postgres"], resources["warehouse"], ENHANCEMENTS)
        if d.tenant_id == tenant_id
    ]
    assert mine == [(earlier, True), (day, False)]

    defs = Definitions(
        assets=[*DAILY_ASSETS, analytics_duckdb],
        asset_checks=[enhancement_history_is_current, ticket_history_is_current],
        jobs=[warehouse_catalog],
        resources=resources,
    )
    result = defs.resolve_job_def("warehouse_catalog").execute_in_process(instance=instance)
    evaluations = {e.asset_key: e for e in result.get_asset_check_evaluations()}
    stale = evaluations[AssetKey("enhancement_history_parquet")]
    assert not stale.passed
    for count in ("stale_partitions", "missing_partitions"):
        assert stale.metadata[count].value not in (None, 0), count

    for d in (day, earlier):
        assert materialize(
            [enhancement_history_parquet],
            partition_key=d.isoformat(),
            instance=instance,
            resources=resources,
        ).success
    assert not [
        d
        for d in _drift(resources["postgres"], resources["warehouse"], ENHANCEMENTS)
        if d.tenant_id == tenant_id
    ]


def test_a_range_of_days_for_every_tenant_is_one_run(
    db: Database,
    box: SecretBox,
    tenant_id: str,
    instance: DagsterInstance,
    resources: dict[str, Any],
    warehouse_dir: Path,
) -> None:
    """What a single-run backfill launches: one run over the range, all tenants."""
    tenants = [seed.tenant(db, box, tenant_id + s) for s in ("-a", "-b")]
    days = [seed.today() - timedelta(days=n) for n in (12, 11, 10)]
    for n, tid in enumerate(tenants):
        with db.tenant(tid) as conn:
            for i, day in enumerate(days):
                seed.random_day(conn, day, 3 + i + n, seed=10 * n + i, prefix=tid)
    result = materialize(
        DAILY_ASSETS,
        instance=instance,
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": days[0].isoformat(),
            "dagster/asset_partition_range_end": days[-1].isoformat(),
        },
    )
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    for n, tid in enumerate(tenants):
        rollup = duck.run_query(
            warehouse_dir, "SELECT day, enhancements FROM daily_rollup ORDER BY day", tid
        ).rows
        assert rollup == [(day, 3 + i + n) for i, day in enumerate(days)]
    # Progress: the first tenant and the last are in the run's log, the last with the
    # run's rows.
    lines = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if (e.user_message or "").startswith(f"{ENHANCEMENTS}: ")
    ]
    exported = result.asset_materializations_for_node("enhancement_history_parquet")[0]
    assert re.match(rf"{ENHANCEMENTS}: 1/(\d+) tenants", lines[0]), lines
    last = re.match(rf"{ENHANCEMENTS}: (\d+)/\1 tenants, (\d+) rows so far", lines[-1])
    assert last is not None, lines
    assert (
        int(last[2])
        == exported.metadata["rows"].value
        == sum(3 + i + n for n in range(len(tenants)) for i in range(len(days)))
    )


def _stamps(root: Path, tenant_id: str) -> dict[str, tuple[int, int]]:
    """Inode and modification time of each of the tenant's files (generation tokens left
    out of the names): a rewrite changes them even when it writes the same bytes."""
    folder = root / "parquet" / f"tenant_id={tenant_id}"
    return {
        _GENERATION.sub(".<g>", str(p.relative_to(folder))): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*.parquet"))
    }


def test_a_run_tagged_with_tenants_rewrites_only_their_files(
    db: Database,
    box: SecretBox,
    tenant_id: str,
    instance: DagsterInstance,
    resources: dict[str, Any],
    warehouse_dir: Path,
) -> None:
    """After fixing one tenant's data an operator re-runs its days alone."""
    fixed, other = (seed.tenant(db, box, tenant_id + s) for s in ("-fixed", "-other"))
    days = [seed.today() - timedelta(days=n) for n in (21, 20)]
    for n, tid in enumerate((fixed, other)):
        with db.tenant(tid) as conn:
            for i, day in enumerate(days):
                seed.random_day(conn, day, 4 + i, seed=30 + 10 * n + i, prefix=tid)
    span = {
        "dagster/asset_partition_range_start": days[0].isoformat(),
        "dagster/asset_partition_range_end": days[-1].isoformat(),
    }
    assert materialize(DAILY_ASSETS, instance=instance, resources=resources, tags=span).success
    untouched = _stamps(warehouse_dir, other)
    before = _stamps(warehouse_dir, fixed)
    with db.tenant(fixed) as conn:
        seed.enhancement(conn, "late-fix", seed.at(days[1], 15))

    result = materialize(
        DAILY_ASSETS,
        instance=instance,
        resources=resources,
        tags={**span, TENANTS_TAG: f" {fixed} "},
    )

    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert _stamps(warehouse_dir, other) == untouched
    rewritten = _stamps(warehouse_dir, fixed)
    assert rewritten.keys() == before.keys()
    assert all(rewritten[name] != before[name] for name in before)
    rollup = duck.run_query(
        warehouse_dir, "SELECT day, enhancements FROM daily_rollup ORDER BY day", fixed
    ).rows
    assert rollup == [(days[0], 4), (days[1], 6)]

    unknown = materialize(
        DAILY_ASSETS,
        instance=instance,
        resources=resources,
        tags={**span, TENANTS_TAG: f"{fixed},no-such-tenant"},
        raise_on_error=False,
    )
    assert not unknown.success
    failures = [e.step_failure_data.error for e in unknown.all_events if e.is_step_failure]
    assert failures
    for failure in failures:
        # Dagster wraps the asset's exception: the operator reads it as the cause.
        assert failure is not None and failure.cause is not None
        assert "do not exist: no-such-tenant" in failure.cause.message
    assert _stamps(warehouse_dir, fixed) == rewritten


def test_one_rollup_chosen_alone_writes_only_its_own_files(
    db: Database,
    box: SecretBox,
    tenant_id: str,
    instance: DagsterInstance,
    resources: dict[str, Any],
    warehouse_dir: Path,
) -> None:
    seed.tenant(db, box, tenant_id)
    day = seed.today() - timedelta(days=3)
    with db.tenant(tenant_id) as conn:
        seed.random_day(conn, day, 6, seed=9)
    key = day.isoformat()
    assert materialize(
        [enhancement_history_parquet], partition_key=key, instance=instance, resources=resources
    ).success

    result = materialize(
        [enhancement_history_parquet, daily_rollups],
        selection=["context_source_daily_rollup"],
        partition_key=key,
        instance=instance,
        resources=resources,
    )

    assert result.success
    made = [e.materialization.asset_key for e in result.get_asset_materialization_events()]
    assert made == [AssetKey("context_source_daily_rollup")]
    tenant_folder = warehouse_dir / "parquet" / f"tenant_id={tenant_id}"
    assert sorted(p.name for p in tenant_folder.iterdir()) == [
        "daily_source_rollup",
        "enhancement_history",
    ]
