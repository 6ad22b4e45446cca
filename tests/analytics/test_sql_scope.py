from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from aiops.agent_spec import AgentSpec
from aiops.crypto import SecretBox
from cli.sql import sql
from tests.analytics import seed
from warehouse import agents
from warehouse.analytics import duck, rollups
from warehouse.analytics.export import ENHANCEMENTS, TICKETS, export_partition
from warehouse.analytics.layout import InvalidTenantError, part_of, tenant_dir
from warehouse.db import Database


@pytest.fixture()
def two_tenants(
    db: Database, box: SecretBox, tenant_id: str, warehouse_dir: Path
) -> tuple[str, str]:
    mine, theirs = seed.tenant(db, box, tenant_id), seed.tenant(db, box, tenant_id + "-x")
    day = seed.today() - timedelta(days=1)
    for tid in (mine, theirs):
        with db.tenant(tid) as conn:
            seed.enhancement(
                conn, f"{tid}-1", seed.at(day), subject=f"secret of {tid}", sources={"kb": "ok"}
            )
            agents.create_agent(conn, "helper", "Helper", "", 1)
            agents.add_version(conn, "helper", AgentSpec(), "", "test")
            agents.record_version(conn, f"{tid}-1", "helper", 1)
            seed.ticket(conn, f"{tid}-T", seed.at(day), subject=f"secret of {tid}")
            export_partition(conn, warehouse_dir, ENHANCEMENTS, tid, day)
            export_partition(conn, warehouse_dir, TICKETS, tid, day)
        rollups.write_daily(warehouse_dir, tid, day)
        rollups.write_sources(warehouse_dir, tid, day)
        rollups.write(warehouse_dir, rollups.AGENTS, [tid], [day])
    return mine, theirs


def _tenants_seen(warehouse_dir: Path, query: str, tenant: str | None) -> set[str]:
    return {row[0] for row in duck.run_query(warehouse_dir, query, tenant).rows}


def test_each_view_shows_only_the_scoped_tenant(
    warehouse_dir: Path, two_tenants: tuple[str, str]
) -> None:
    mine, theirs = two_tenants
    for table in duck.TABLES:
        query = f"SELECT DISTINCT tenant_id FROM {table}"
        assert _tenants_seen(warehouse_dir, query, mine) == {mine}, table
        assert _tenants_seen(warehouse_dir, query, None) == {mine, theirs}, table
    filtered = f"SELECT tenant_id FROM ticket_history WHERE tenant_id = '{theirs}'"
    assert duck.run_query(warehouse_dir, filtered, mine).rows == []


def _escapes(warehouse_dir: Path, mine: str, theirs: str) -> list[str]:
    day = seed.today() - timedelta(days=1)
    my_part = part_of(warehouse_dir, ENHANCEMENTS, mine, day)
    their_part = part_of(warehouse_dir, ENHANCEMENTS, theirs, day)
    assert my_part is not None and their_part is not None
    my_file, their_file = my_part.path, their_part.path
    my_dir = tenant_dir(warehouse_dir, mine)
    root = warehouse_dir / "parquet"
    return [
        f"SELECT * FROM read_parquet('{their_file}')",
        f"SELECT * FROM read_parquet('{my_dir}/../tenant_id={theirs}/{ENHANCEMENTS}/*/*.parquet')",
        f"SELECT * FROM read_parquet('{root}/*/{ENHANCEMENTS}/*/*.parquet')",
        f"SELECT * FROM read_parquet('{root}/*/{ENHANCEMENTS}/.*/*.parquet')",
        f"SELECT * FROM read_parquet('{root}/**/*.parquet')",
        f"SELECT * FROM read_parquet(['{my_file}', '{their_file}'])",
        f"SELECT * FROM parquet_scan('{their_file}')",
        f"SELECT * FROM '{their_file}'",
        f"SELECT content FROM read_text('{their_file}')",
        f"SELECT * FROM glob('{root}/**')",
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM read_parquet('file://{their_file}')",
        "SET enable_external_access = true",
        f"SET allowed_directories = ['{root}/']",
        "RESET lock_configuration",
        f"SET enable_external_access = true; SELECT * FROM read_parquet('{their_file}')",
        f"ATTACH '{warehouse_dir / 'analytics.duckdb'}' AS w",
        f"COPY (SELECT 1) TO '{my_dir}/x.csv'",
        f"CREATE VIEW stolen AS SELECT * FROM read_parquet('{their_file}')",
        "INSTALL httpfs",
        "LOAD httpfs",
        "PRAGMA version",
        "CALL pragma_version()",
        f"SELECT * FROM read_parquet('https://example.org/{theirs}.parquet')",
    ]


def test_a_tenant_scoped_query_cannot_reach_another_tenants_files(
    warehouse_dir: Path, two_tenants: tuple[str, str]
) -> None:
    mine, theirs = two_tenants
    for attempt in _escapes(warehouse_dir, mine, theirs):
        with pytest.raises((duck.QueryRefusedError, duckdb.Error)):
            result = duck.run_query(warehouse_dir, attempt, mine)
            pytest.fail(f"ran: {attempt!r} -> {result.rows[:3]}")
    assert not (tenant_dir(warehouse_dir, mine) / "x.csv").exists()


def test_tenant_ids_cannot_name_a_path(warehouse_dir: Path, two_tenants: tuple[str, str]) -> None:
    mine, theirs = two_tenants
    for bad in (f"{mine}/../tenant_id={theirs}", "..", "", "A", f"{mine}/"):
        with pytest.raises(InvalidTenantError):
            duck.run_query(warehouse_dir, "SELECT 1", bad)


def test_unscoped_queries_are_read_only_too(
    warehouse_dir: Path, two_tenants: tuple[str, str]
) -> None:
    for attempt in (
        "COPY (SELECT 1) TO 'x.csv'",
        "CREATE TABLE t AS SELECT 1",
        "DELETE FROM enhancement_history",
        "SELECT * FROM read_csv('/etc/passwd')",
    ):
        with pytest.raises((duck.QueryRefusedError, duckdb.Error)):
            duck.run_query(warehouse_dir, attempt)


def test_views_of_tables_without_partitions_are_empty_but_typed(tmp_path: Path) -> None:
    result = duck.run_query(tmp_path, "SELECT count(*), max(cost_usd) FROM daily_rollup", "t-1")
    assert result.rows == [(0, None)]
    described = duck.run_query(tmp_path, "DESCRIBE enhancement_history", "t-1").rows
    empty_types = {row[0]: row[1] for row in described}
    assert empty_types["context_sources"] == 'STRUCT("source" VARCHAR, outcome VARCHAR)[]'


def test_empty_views_match_the_parquet_schema(
    warehouse_dir: Path, two_tenants: tuple[str, str], tmp_path: Path
) -> None:
    mine, _ = two_tenants
    for table in duck.TABLES:
        real = duck.run_query(warehouse_dir, f"DESCRIBE {table}", mine).rows
        empty = duck.run_query(tmp_path / "none", f"DESCRIBE {table}", mine).rows
        assert [r[:2] for r in real] == [r[:2] for r in empty], table


def test_rollups_for_the_api_are_tenant_scoped_records(
    warehouse_dir: Path, two_tenants: tuple[str, str]
) -> None:
    mine, _ = two_tenants
    day = seed.today() - timedelta(days=1)
    rows = duck.daily_rollups(warehouse_dir, mine, day - timedelta(days=7), day)
    assert [(r["tenant_id"], r["day"], r["enhancements"]) for r in rows] == [(mine, day, 1)]
    json.dumps(duck.to_jsonable(rows))


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(sql)
    return app


def test_aiops_sql_prints_only_the_tenants_rows_as_table_csv_and_json(
    warehouse_dir: Path, two_tenants: tuple[str, str]
) -> None:
    mine, theirs = two_tenants
    env = {"AI_AGENTS_WAREHOUSE_DIR": str(warehouse_dir), "COLUMNS": "200"}
    runner = CliRunner()
    query = "SELECT tenant_id, event_id, cost_usd, created_at FROM enhancement_history"

    as_json = runner.invoke(_cli(), [query, "--tenant", mine, "--format", "json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.output)
    assert [(r["tenant_id"], r["event_id"], r["cost_usd"]) for r in rows] == [
        (mine, f"{mine}-1", 0.00125)
    ]

    as_csv = runner.invoke(_cli(), [query, "--tenant", mine, "-f", "csv"], env=env)
    assert as_csv.exit_code == 0, as_csv.output
    lines = as_csv.output.splitlines()
    assert lines[0] == "tenant_id,event_id,cost_usd,created_at"
    assert len(lines) == 2 and lines[1].startswith(f"{mine},{mine}-1,0.001250,")

    as_table = runner.invoke(_cli(), [query, "--tenant", mine], env=env)
    assert as_table.exit_code == 0, as_table.output
    assert f"{mine}-1" in as_table.output and theirs not in as_table.output

    escape = f"SELECT * FROM read_parquet('{warehouse_dir}/parquet/tenant_id={theirs}/**')"
    refused = runner.invoke(_cli(), [escape, "--tenant", mine], env=env)
    assert refused.exit_code == 1
    assert "secret" not in refused.output and theirs + "-1" not in refused.output


def test_a_runaway_query_is_stopped_at_its_timeout_and_the_next_one_runs(
    warehouse_dir: Path, two_tenants: tuple[str, str]
) -> None:
    mine, _ = two_tenants
    runaway = "SELECT count(*) FROM range(1000000000000) a, range(1000000) b"

    # Run to its end, this would take hours: the raise shows it was interrupted.
    with pytest.raises(duck.QueryTimeoutError, match=r"longer than 0\.5 s"):
        duck.run_query(warehouse_dir, runaway, mine, timeout_seconds=0.5)

    assert duck.run_query(warehouse_dir, "SELECT 42", mine, timeout_seconds=30).rows == [(42,)]


def test_each_query_spills_into_its_own_folder_that_no_tenant_can_read(
    warehouse_dir: Path, two_tenants: tuple[str, str]
) -> None:
    mine, theirs = two_tenants
    their_spill = duck.spill_root(warehouse_dir, theirs)
    (their_spill / "q-left").mkdir(parents=True, exist_ok=True)
    (their_spill / "q-left" / "block.tmp").write_text(f"secret of {theirs}")
    for attempt in (
        f"SELECT * FROM glob('{their_spill}/**')",
        f"SELECT content FROM read_text('{their_spill}/q-left/block.tmp')",
        f"SELECT content FROM read_text('{duck.spill_root(warehouse_dir, mine)}/*')",
        "SELECT current_setting('temp_directory')",
    ):
        with pytest.raises((duck.QueryRefusedError, duckdb.Error)):
            result = duck.run_query(warehouse_dir, attempt, mine)
            if attempt.startswith("SELECT current_setting"):
                # Reading its own setting is harmless; it must name its own folder.
                (spill,) = result.rows[0]
                assert spill.startswith(str(duck.spill_root(warehouse_dir, mine)) + "/q-")
                raise duckdb.Error("only its own folder")
            pytest.fail(f"ran: {attempt!r} -> {result.rows[:3]}")
    # A sort bigger than its memory spills into its own folder, which goes afterwards.
    big = "SELECT count(*) FROM (SELECT i FROM range(3000000) t(i) ORDER BY random())"
    limits = duck.QueryLimits(memory_mb=32, spill_mb=512)
    assert duck.run_query(warehouse_dir, big, mine, limits=limits).rows == [(3000000,)]
    assert list(duck.spill_root(warehouse_dir, mine).iterdir()) == []


def test_a_query_past_its_memory_limit_fails_with_a_reason(
    warehouse_dir: Path, two_tenants: tuple[str, str]
) -> None:
    mine, _ = two_tenants
    # One list of 20 million integers cannot be spilled: it needs ~160 MB at once.
    hungry = "SELECT length(list(i)) FROM range(20000000) t(i)"
    with pytest.raises(duck.QueryTooLargeError, match="more than 32 MB of memory"):
        duck.run_query(warehouse_dir, hungry, mine, limits=duck.QueryLimits(memory_mb=32))
    roomy = duck.QueryLimits(memory_mb=1024)
    assert duck.run_query(warehouse_dir, hungry, mine, limits=roomy).rows == [(20000000,)]


def test_rows_are_capped_whatever_the_caller_asks(
    warehouse_dir: Path, two_tenants: tuple[str, str]
) -> None:
    mine, _ = two_tenants
    limits = duck.QueryLimits(max_rows=5)
    capped = duck.run_query(warehouse_dir, "SELECT * FROM range(100)", mine, 50, limits=limits)
    assert len(capped.rows) == 5 and capped.truncated
    whole = duck.run_query(warehouse_dir, "SELECT * FROM range(5)", mine, 50, limits=limits)
    assert len(whole.rows) == 5 and not whole.truncated
