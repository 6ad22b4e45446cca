"""The Dagster webserver and daemon as `aiops up` starts them, driven through GraphQL:
embedded (Dagster's local SQLite storage) and pointed at PostgreSQL, side by side."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from psycopg import sql

from aiops.embedded import ServiceUrls
from aiops.settings import Settings
from cli.dagster_processes import (
    dagster_env,
    dagster_home,
    dagster_specs,
    ensure_storage_database,
    migrate_storage_command,
    prepare_dagster_home,
    storage_url,
)
from tests.fakes.loopback import free_port
from warehouse import migrate

STORAGES = ("sqlite", "postgres")
# One run per deployment, so the two cost about what one deployment with both runs did.
RUNS: dict[str, tuple[str, str, dict[str, Any], list[str]]] = {
    "sqlite": ("materialization", "__ASSET_JOB", {}, ["analytics_duckdb"]),
    "postgres": (
        "retention dry run",
        "retention",
        {"ops": {"retention_plan": {"config": {"dry_run": True}}}},
        [],
    ),
}
# Six Python processes start at once (a webserver, a daemon and their code servers per
# deployment), then a run process each: on a loaded 2-core machine each can take minutes
# to import. Each wait has its own generous budget and fails with the logs that explain
# it; the test's own timeout is above their sum, so a slow start is never cut off blind.
STARTUP_SECONDS = 240
RUN_SECONDS = 240
TEST_SECONDS = 4 * STARTUP_SECONDS + RUN_SECONDS + 60
# One GraphQL answer may be slow under load; only the deadlines above decide failure.
GRAPHQL_SECONDS = 120

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


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """All at once: each child leads its own process group, so the code servers it spawned
    go with it."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass
class _Deployment:
    """One Dagster webserver and daemon, with its own DAGSTER_HOME and warehouse."""

    storage: str
    settings: Settings
    env: dict[str, str]
    folder: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.settings.dagster_port}"

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")[-3000:]

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process


def _deployment(storage: str, service_urls: ServiceUrls, folder: Path) -> _Deployment:
    """As `aiops up` prepares it: embedded (local SQLite storage), or pointed at PostgreSQL."""
    settings = Settings(state_dir=folder / "state", host="127.0.0.1", dagster_port=free_port())
    if storage == "postgres":
        parts = urlsplit(service_urls.migration_database_url)
        database = urlunsplit(parts._replace(path=f"/dagster_{uuid.uuid4().hex[:8]}"))
        settings = settings.model_copy(
            update={
                "dagster_database_url": database,
                "database_url": service_urls.database_url,
                "redis_url": service_urls.redis_url,
            }
        )
    url = storage_url(settings, service_urls)
    assert (url is None) == (storage == "sqlite")
    if url is not None:
        ensure_storage_database(service_urls, url)
    home = prepare_dagster_home(settings)
    env = {
        **os.environ,
        "AI_AGENTS_DATABASE_URL": service_urls.database_url,
        "AI_AGENTS_REDIS_URL": service_urls.redis_url,
        **dagster_env(settings, service_urls, home),
    }
    return _Deployment(storage, settings, env, folder)


def _wait_until_serving(deployment: _Deployment, deadline: float) -> None:
    while True:
        for name, process in deployment.processes.items():
            assert process.poll() is None, deployment.log(name)
        try:
            if httpx.get(f"{deployment.base}/server_info", timeout=10).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{deployment.storage}: dagster-webserver is silent"
        time.sleep(0.5)


def _empty_application_database(service_urls: ServiceUrls) -> ServiceUrls:
    """A migrated database of its own: the sensors find no tenants from other tests, so
    they request no runs to compete with the ones launched here."""
    name = f"aiops_web_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(service_urls.migration_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def on_it(url: str) -> str:
        return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))

    migrate.upgrade(on_it(service_urls.migration_database_url))
    return ServiceUrls(
        on_it(service_urls.database_url),
        on_it(service_urls.migration_database_url),
        service_urls.redis_url,
        on_it(service_urls.operator_database_url),
    )


@pytest.fixture()
def deployments(service_urls: ServiceUrls, tmp_path: Path) -> Iterator[list[_Deployment]]:
    """Both storages at once, so their start-ups and runs overlap instead of adding up."""
    urls = _empty_application_database(service_urls)
    started: list[_Deployment] = []
    try:
        for storage in STORAGES:
            (tmp_path / storage).mkdir()
            started.append(_deployment(storage, urls, tmp_path / storage))
        migrations = [d.start("migrate", migrate_storage_command(sys.executable)) for d in started]
        for deployment, migration in zip(started, migrations, strict=True):
            assert migration.wait(timeout=STARTUP_SECONDS) == 0, deployment.log("migrate")
            del deployment.processes["migrate"]
        for deployment in started:
            for spec in dagster_specs(deployment.settings, sys.executable, deployment.env):
                deployment.start(spec.name, list(spec.argv))
        deadline = time.monotonic() + STARTUP_SECONDS
        for deployment in started:
            _wait_until_serving(deployment, deadline)
        yield started
    finally:
        _stop([p for d in started for p in d.processes.values()])


def _graphql(base: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/graphql",
        json={"query": query, "variables": variables or {}},
        timeout=GRAPHQL_SECONDS,
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
        assert time.monotonic() < deadline, f"{base}: the code location did not load"
        time.sleep(1)


def _launch(base: str, storage: str) -> tuple[str, str]:
    """Checks what the UI shows, then launches this deployment's run through the queued
    run coordinator; returns what it is and its run id."""
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
    what, job, run_config, assets = RUNS[storage]
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
    return what, str(launched["run"]["runId"])


@pytest.mark.e2e
@pytest.mark.timeout(TEST_SECONDS)
def test_runs_launched_through_graphql_succeed(deployments: list[_Deployment]) -> None:
    # Through the daemon into run processes that read their resources from the AI_AGENTS_*
    # environment and write their events to their deployment's storage.
    runs = {d.storage: (d.base, *_launch(d.base, d.storage)) for d in deployments}
    deadline = time.monotonic() + RUN_SECONDS
    status: dict[str, str] = {}
    while set(status.values()) - {"SUCCESS", "FAILURE", "CANCELED"} or not status:
        assert time.monotonic() < deadline, (
            f"runs still going: {status}",
            {d.storage: d.log("dagster-daemon") for d in deployments},
        )
        time.sleep(1)
        status = {
            f"{storage}: {what}": _graphql(base, _RUN, {"runId": run_id})["runOrError"]["status"]
            for storage, (base, what, run_id) in runs.items()
        }
    assert status == {
        "sqlite: materialization": "SUCCESS",
        "postgres: retention dry run": "SUCCESS",
    }, {d.storage: d.log("dagster-daemon") for d in deployments}
    sqlite, postgres = deployments
    assert (sqlite.settings.warehouse_path / "analytics.duckdb").is_file()
    # Each storage where `aiops up` puts it: SQLite files in DAGSTER_HOME, or none there.
    home = dagster_home(sqlite.settings)
    assert (home / "history" / "runs.db").is_file()
    assert not (dagster_home(postgres.settings) / "history").exists()
