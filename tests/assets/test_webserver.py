"""The Dagster webserver and daemon as `aiops up` starts them, driven through GraphQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from aiops.embedded import ServiceUrls
from aiops.settings import Settings
from cli.dagster_processes import (
    dagster_env,
    dagster_specs,
    ensure_storage_database,
    migrate_storage_command,
    prepare_dagster_home,
)

STARTUP_SECONDS = 120
RUN_SECONDS = 180

_LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}
"""

_RUN = """
query Run($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status } }
}
"""

_REPOSITORY = """
{
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        schedules { name scheduleState { status } }
        sensors { name sensorState { status } }
        assetNodes { assetKey { path } }
      }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    # Each child leads its own process group: the code servers it spawned go with it.
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture()
def dagster(service_urls: ServiceUrls, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    state = tmp_path / "state"
    parts = urlsplit(service_urls.migration_database_url)
    storage = urlunsplit(parts._replace(path=f"/dagster_{uuid.uuid4().hex[:8]}"))
    settings = Settings(
        state_dir=state,
        host="127.0.0.1",
        dagster_port=_free_port(),
        dagster_database_url=storage,
        database_url=service_urls.database_url,
        redis_url=service_urls.redis_url,
    )
    ensure_storage_database(service_urls, storage)
    home = prepare_dagster_home(settings)
    env = {
        **os.environ,
        "AI_AGENTS_DATABASE_URL": service_urls.database_url,
        "AI_AGENTS_REDIS_URL": service_urls.redis_url,
        **dagster_env(settings, service_urls, home),
    }
    subprocess.run(
        migrate_storage_command(sys.executable),
        env=env,
        check=True,
        capture_output=True,
        timeout=STARTUP_SECONDS,
    )
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    try:
        for spec in dagster_specs(settings, sys.executable, env):
            log = (tmp_path / f"{spec.name}.log").open("wb")
            logs.append(tmp_path / f"{spec.name}.log")
            processes.append(
                subprocess.Popen(
                    list(spec.argv),
                    env={**env, **spec.extra_env},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        base = f"http://127.0.0.1:{settings.dagster_port}"
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            for process, log_file in zip(processes, logs, strict=True):
                assert process.poll() is None, log_file.read_text()[-3000:]
            try:
                if httpx.get(f"{base}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "dagster-webserver did not answer"
            time.sleep(0.5)
        yield base, settings.warehouse_path
    finally:
        for process in reversed(processes):
            _stop(process)


def _graphql(base: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def _wait_for_location(base: str) -> dict[str, Any]:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        nodes = _graphql(base, _REPOSITORY)["repositoriesOrError"].get("nodes") or []
        if nodes:
            return nodes[0]
        assert time.monotonic() < deadline, "the code location did not load"
        time.sleep(1)


@pytest.mark.e2e
def test_runs_launched_through_graphql_succeed(dagster: tuple[str, Path]) -> None:
    base, warehouse = dagster
    repository = _wait_for_location(base)
    assert repository["location"]["name"] == "aiops"
    assert {tuple(n["assetKey"]["path"]) for n in repository["assetNodes"]} >= {
        ("enhancement_history_parquet",),
        ("ticket_history_index",),
        ("analytics_duckdb",),
    }
    assert {s["name"] for s in repository["schedules"]} == {
        "warehouse_daily_schedule",
        "warehouse_catalog_schedule",
        "retention_schedule",
    }
    assert {s["name"]: s["sensorState"]["status"] for s in repository["sensors"]} == {
        "tenant_partitions": "RUNNING",
        "ticket_index_freshness": "RUNNING",
    }

    def launch(job: str, run_config: dict[str, Any], assets: list[str] | None = None) -> str:
        selector: dict[str, Any] = {
            "repositoryLocationName": "aiops",
            "repositoryName": repository["name"],
            "jobName": job,
        }
        if assets:
            selector["assetSelection"] = [{"path": [name]} for name in assets]
        params = {"selector": selector, "runConfigData": run_config}
        launched = _graphql(base, _LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        return str(launched["run"]["runId"])

    # Through the queued run coordinator and the daemon, into run processes that read
    # their resources from the AI_AGENTS_* environment.
    runs = {
        "materialization": launch("__ASSET_JOB", {}, ["analytics_duckdb"]),
        "retention dry run": launch(
            "retention", {"ops": {"retention_plan": {"config": {"dry_run": True}}}}
        ),
    }
    deadline = time.monotonic() + RUN_SECONDS
    status: dict[str, str] = {}
    while set(status.values()) - {"SUCCESS", "FAILURE", "CANCELED"} or not status:
        assert time.monotonic() < deadline, f"runs still going: {status}"
        time.sleep(1)
        status = {
            what: _graphql(base, _RUN, {"runId": run_id})["runOrError"]["status"]
            for what, run_id in runs.items()
        }
    assert status == {"materialization": "SUCCESS", "retention dry run": "SUCCESS"}
    assert (warehouse / "analytics.duckdb").is_file()
