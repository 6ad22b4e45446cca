from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from dagster import DagsterInstance, ExecuteInProcessResult
from dagster._core.storage.runs.schema import RunsTable
from dagster._core.storage.runs.sql_run_storage import SqlRunStorage

from aiops.crypto import SecretBox
from assets.retention.jobs import retention
from tests.analytics import seed
from warehouse.analytics import rollups
from warehouse.analytics.export import ENHANCEMENTS, TICKETS, export_partition
from warehouse.analytics.layout import partition_days
from warehouse.budgets import SPEND_TABLE
from warehouse.db import Database
from warehouse.retention import NOTE_FEEDBACK, SANDBOX_JOBS, SANDBOX_RUNS, Policy

ENHANCEMENT_AGES = {"a": (0, 30, 31, 45, 100), "b": (0, 90, 91, 120)}
TICKET_AGES = {"a": (10, 60, 61, 200, None), "b": (10, 500)}


def _ago(days: int) -> date:
    return seed.today() - timedelta(days=days)


def _stream_id(moment: datetime, seq: int = 0) -> str:
    return f"{int(moment.timestamp() * 1000)}-{seq}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _run(
    instance: DagsterInstance, resources: dict[str, Any], **config: Any
) -> ExecuteInProcessResult:
    result = retention.execute_in_process(
        run_config={"ops": {"retention_plan": {"config": config}}},
        instance=instance,
        resources=resources,
    )
    assert result.success
    return result


def _state(
    db: Database, client: redis.Redis, root: Path, tenants: dict[str, str]
) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for name, tid in tenants.items():
        with db.tenant(tid) as conn:
            state[f"{name}/enhancements"] = sorted(
                r["event_id"] for r in conn.execute("SELECT event_id FROM enhancement_history")
            )
            state[f"{name}/spend"] = sorted(
                r["event_id"] for r in conn.execute("SELECT event_id FROM llm_spend")
            )
            state[f"{name}/tickets"] = sorted(
                r["ticket_id"] for r in conn.execute("SELECT ticket_id FROM ticket_history")
            )
        for table in (ENHANCEMENTS, TICKETS, rollups.DAILY, rollups.SOURCES):
            state[f"{name}/{table}/files"] = partition_days(root, table, tid)
    for key in sorted(client.scan_iter(match="aiops:*")):
        kind = _text(client.type(key))
        state[_text(key)] = client.xlen(key) if kind == "stream" else kind
    return state


def test_retention_removes_exactly_what_each_tenants_policy_expires(
    db: Database,
    box: SecretBox,
    tenant_id: str,
    instance: DagsterInstance,
    resources: dict[str, Any],
    redis_client: redis.Redis,
    warehouse_dir: Path,
) -> None:
    tenants = {
        "a": seed.tenant(db, box, tenant_id + "-a", Policy(enhancement_days=30, ticket_days=60)),
        "b": seed.tenant(db, box, tenant_id + "-b"),
    }
    for name, tid in tenants.items():
        with db.tenant(tid) as conn:
            for days in ENHANCEMENT_AGES[name]:
                # A source outcome, so the day has a row in the source rollup too.
                seed.enhancement(conn, f"e{days}", seed.at(_ago(days)), sources={"kb": "ok"})
                conn.execute(
                    "INSERT INTO llm_spend (tenant_id, event_id, cost_usd, spent_at) "
                    "VALUES (%s, %s, 0.01, %s)",
                    (tid, f"e{days}", seed.at(_ago(days))),
                )
                export_partition(conn, warehouse_dir, ENHANCEMENTS, tid, _ago(days))
                rollups.write_daily(warehouse_dir, tid, _ago(days))
                rollups.write_sources(warehouse_dir, tid, _ago(days))
            for age in TICKET_AGES[name]:
                seed.ticket(conn, f"t{age}", seed.at(_ago(age)) if age is not None else None)
                if age is not None:
                    export_partition(conn, warehouse_dir, TICKETS, tid, _ago(age))
    now = datetime.now(UTC)
    for moment, seq in ((now - timedelta(days=8), 0), (now - timedelta(days=8), 1)):
        redis_client.xadd("aiops:events:0", {"event": "{}"}, id=_stream_id(moment, seq))
    redis_client.xadd("aiops:events:0", {"event": "{}"}, id=_stream_id(now - timedelta(days=6)))
    redis_client.xadd("aiops:events:0", {"event": "{}"})
    redis_client.xadd("aiops:backfill:1", {"event": "{}"}, id=_stream_id(now - timedelta(days=10)))
    redis_client.xadd("aiops:backfill:1", {"event": "{}"})
    redis_client.xadd("aiops:dlq", {"event": "{}"}, id=_stream_id(now - timedelta(days=30)))
    redis_client.set("aiops:events:dedupe-marker", "1")
    before = _state(db, redis_client, warehouse_dir, tenants)

    dry = _run(instance, resources, dry_run=True, batch_size=2)
    assert _state(db, redis_client, warehouse_dir, tenants) == before
    expected_rows = {
        tenants["a"]: {
            ENHANCEMENTS: 3,
            SPEND_TABLE: 3,
            SANDBOX_RUNS: 0,
            SANDBOX_JOBS: 0,
            NOTE_FEEDBACK: 0,
            TICKETS: 2,
        },
        tenants["b"]: {
            ENHANCEMENTS: 2,
            SPEND_TABLE: 2,
            SANDBOX_RUNS: 0,
            SANDBOX_JOBS: 0,
            NOTE_FEEDBACK: 0,
        },
    }
    dry_rows = dry.output_for_node("purge_postgres")
    assert {t: dry_rows[t] for t in tenants.values()} == expected_rows
    assert dry.output_for_node("trim_streams") == {"aiops:backfill:1": 1, "aiops:events:0": 2}
    dry_files = dry.output_for_node("drop_parquet")
    assert dry_files[f"{tenants['a']}/{TICKETS}"] == [_ago(200).isoformat(), _ago(61).isoformat()]

    # An old finished run, to be purged with its event log; newer runs stay.
    storage = instance.run_storage
    assert isinstance(storage, SqlRunStorage)
    with storage.connect() as conn:
        conn.execute(
            RunsTable.update()
            .where(RunsTable.c.run_id == dry.run_id)
            .values(create_timestamp=datetime(2020, 1, 1))
        )

    real = _run(instance, resources, batch_size=2)
    assert {t: real.output_for_node("purge_postgres")[t] for t in tenants.values()} == expected_rows
    assert real.output_for_node("drop_parquet") == dry_files
    assert real.output_for_node("purge_dagster_runs") == 1
    assert instance.get_run_by_id(dry.run_id) is None
    assert instance.get_run_by_id(real.run_id) is not None

    after = _state(db, redis_client, warehouse_dir, tenants)
    assert after["a/enhancements"] == ["e0", "e30"]
    assert after["b/enhancements"] == ["e0", "e90"]
    assert after["a/tickets"] == ["t10", "t60", "tNone"]
    assert after["b/tickets"] == ["t10", "t500"]
    for table in (ENHANCEMENTS, rollups.DAILY, rollups.SOURCES):
        assert after[f"a/{table}/files"] == [_ago(30), _ago(0)]
        assert after[f"b/{table}/files"] == [_ago(90), _ago(0)]
    assert after[f"a/{TICKETS}/files"] == [_ago(60), _ago(10)]
    assert after[f"b/{TICKETS}/files"] == before[f"b/{TICKETS}/files"]
    assert after["aiops:events:0"] == 2
    assert after["aiops:backfill:1"] == 1
    assert after["aiops:dlq"] == 1
    assert after["aiops:events:dedupe-marker"] == "string"

    rerun = _run(instance, resources)
    assert {t: rerun.output_for_node("purge_postgres")[t] for t in tenants.values()} == {
        tenants["a"]: {
            ENHANCEMENTS: 0,
            SPEND_TABLE: 0,
            SANDBOX_RUNS: 0,
            SANDBOX_JOBS: 0,
            NOTE_FEEDBACK: 0,
            TICKETS: 0,
        },
        tenants["b"]: {
            ENHANCEMENTS: 0,
            SPEND_TABLE: 0,
            SANDBOX_RUNS: 0,
            SANDBOX_JOBS: 0,
            NOTE_FEEDBACK: 0,
        },
    }
    assert _state(db, redis_client, warehouse_dir, tenants) == after
