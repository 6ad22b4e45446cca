from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dagster import EnvVar

from assets.definitions import defs

REPO = Path(__file__).resolve().parents[2]

_DESCRIBE = """
import json
import dagster as dg
from assets.definitions import defs
dg.Definitions.validate_loadable(defs)
repo = defs.get_repository_def()
print(json.dumps({
    "assets": sorted(k.to_user_string() for k in repo.assets_defs_by_key),
    "checks": sorted(k.to_user_string() for k in repo.asset_graph.asset_check_keys),
    "jobs": sorted(j.name for j in repo.get_all_jobs()),
    "schedules": sorted(s.name for s in repo.schedule_defs),
    "sensors": sorted(s.name for s in repo.sensor_defs),
}))
"""


def test_definitions_load_without_configuration_and_touch_nothing(tmp_path: Path) -> None:
    """Loading reads no AI_AGENTS_* variable, opens no connection and writes no file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AI_AGENTS_", "DAGSTER_"))}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", _DESCRIBE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert list(tmp_path.iterdir()) == []
    assert loaded == {
        "assets": [
            "agent_version_daily_rollup",
            "analytics_duckdb",
            "context_source_daily_rollup",
            "enhancement_daily_rollup",
            "enhancement_history_parquet",
            "ticket_history_index",
            "ticket_history_parquet",
        ],
        "checks": [
            "enhancement_history_parquet:matches_postgres",
            "enhancement_history_parquet:no_stale_partitions",
            "ticket_history_parquet:matches_postgres",
            "ticket_history_parquet:no_stale_partitions",
        ],
        "jobs": [
            "__ASSET_JOB",
            "reenhance",
            "retention",
            "ticket_index",
            "warehouse_catalog",
            "warehouse_daily",
        ],
        "schedules": [
            "retention_schedule",
            "warehouse_catalog_schedule",
            "warehouse_daily_schedule",
        ],
        "sensors": ["tenant_partitions", "ticket_index_freshness"],
    }


def test_resources_read_their_settings_from_the_environment_at_run_time() -> None:
    resources = defs.resources
    assert resources is not None
    assert resources["postgres"].database_url == EnvVar("AI_AGENTS_DATABASE_URL")
    assert resources["redis"].redis_url == EnvVar("AI_AGENTS_REDIS_URL")
    assert resources["warehouse"].warehouse_dir == EnvVar("AI_AGENTS_WAREHOUSE_DIR")
