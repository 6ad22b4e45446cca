"""DAGSTER_HOME as `aiops up` prepares it: local storage embedded, PostgreSQL if pointed at one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml
from dagster import DagsterInstance
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.runs import SqliteRunStorage
from dagster._core.storage.schedules import SqliteScheduleStorage
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from aiops.embedded import ServiceUrls
from aiops.settings import Settings
from cli.dagster_processes import (
    INSTANCE_FILE,
    dagster_env,
    ensure_storage_database,
    prepare_dagster_home,
    storage_url,
)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """The Dagster processes' environment, for an instance loaded in this process."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _load(home: Path) -> DagsterInstance:
    return DagsterInstance.from_config(str(home))


def _check_instance_settings(instance: DagsterInstance) -> None:
    """What the repository's dagster.yaml asks for, whatever the storage."""
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    # As the daemon's run queue reads it: concurrency settings over the coordinator's.
    queue = instance.get_concurrency_config().run_queue_config
    assert queue is not None
    limits = yaml.safe_load(INSTANCE_FILE.read_text())["concurrency"]["runs"]
    assert queue.max_concurrent_runs == limits["max_concurrent_runs"]
    assert {"key": "aiops/llm", "limit": 1} in queue.tag_concurrency_limits
    assert instance.run_monitoring_enabled
    assert not instance.telemetry_enabled


def _check_runs_are_stored(instance: DagsterInstance) -> None:
    run = instance.add_run(DagsterRun(job_name="probe", run_id=str(uuid.uuid4())))
    assert instance.get_run_by_id(run.run_id) is not None
    assert instance.get_runs_count() == 1


def test_the_embedded_default_keeps_dagster_in_local_storage_under_the_state_dir(
    tmp_path: Path, service_urls: ServiceUrls
) -> None:
    settings = Settings(state_dir=tmp_path / "state")
    assert settings.database_url is None and settings.dagster_database_url is None
    home = prepare_dagster_home(settings)
    assert home == (tmp_path / "state" / "dagster").resolve()
    assert storage_url(settings, service_urls) is None
    env = dagster_env(settings, service_urls, home)
    assert "AI_AGENTS_DAGSTER_DATABASE_URL" not in env
    with _environment(env), _load(home) as instance:
        assert isinstance(instance.run_storage, SqliteRunStorage)
        assert isinstance(instance.event_log_storage, SqliteEventLogStorage)
        assert isinstance(instance.schedule_storage, SqliteScheduleStorage)
        _check_instance_settings(instance)
        _check_runs_are_stored(instance)
    assert (home / "history" / "runs.db").is_file()


def test_a_postgresql_server_holds_dagster_storage_in_a_database_of_its_own(
    tmp_path: Path, service_urls: ServiceUrls
) -> None:
    parts = urlsplit(service_urls.migration_database_url)
    name = f"dagster_{uuid.uuid4().hex[:8]}"
    settings = Settings(
        state_dir=tmp_path / "state",
        database_url=service_urls.database_url,
        dagster_database_url=urlunsplit(parts._replace(path=f"/{name}")),
    )
    home = prepare_dagster_home(settings)
    url = storage_url(settings, service_urls)
    assert url is not None and url.startswith("postgresql+psycopg2://")
    assert urlsplit(url).path == f"/{name}"
    ensure_storage_database(service_urls, url)
    with _environment(dagster_env(settings, service_urls, home)), _load(home) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        _check_instance_settings(instance)
        _check_runs_are_stored(instance)
    assert not (home / "history").exists()


@pytest.mark.parametrize(
    ("database_url", "expected"),
    [(None, None), ("postgresql://aiops_app@db.example/aiops", "/dagster")],
)
def test_an_application_database_alone_puts_dagster_next_to_it(
    tmp_path: Path, service_urls: ServiceUrls, database_url: str | None, expected: str | None
) -> None:
    settings = Settings(state_dir=tmp_path, database_url=database_url)
    url = storage_url(settings, service_urls)
    assert (urlsplit(url).path if url else None) == expected
