"""The Dagster webserver and daemon as `aiops up` runs them.

DAGSTER_HOME is $AI_AGENTS_STATE_DIR/dagster. Its dagster.yaml is written from the
repository's dagster.yaml (the one source of the instance settings) with the storage
block chosen for the mode: Dagster's local SQLite storage in DAGSTER_HOME for the
embedded default, PostgreSQL (dagster-postgres) whenever the project is pointed at a
PostgreSQL server — the database AI_AGENTS_DAGSTER_DATABASE_URL names, by default a
`dagster` database on the migration URL's server, created on first start. Both
processes load workspace.yaml (the code location assets.definitions).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import yaml
from psycopg import sql

from aiops.embedded import ServiceUrls
from aiops.settings import Settings
from cli.supervisor import ChildSpec

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTANCE_FILE = REPO_ROOT / "dagster.yaml"
WORKSPACE_FILE = REPO_ROOT / "workspace.yaml"
STORAGE_DATABASE = "dagster"
STORAGE_URL_VARIABLE = "AI_AGENTS_DAGSTER_DATABASE_URL"


def dagster_home(settings: Settings) -> Path:
    return (settings.state_dir / "dagster").resolve()


def uses_postgres(settings: Settings) -> bool:
    """PostgreSQL storage once the project is pointed at a server; local storage otherwise."""
    return settings.dagster_database_url is not None or settings.database_url is not None


def instance_config(settings: Settings, home: Path) -> dict[str, Any]:
    """The repository's dagster.yaml (PostgreSQL storage, read from STORAGE_URL_VARIABLE),
    its storage swapped for Dagster's local SQLite storage in `home` when embedded."""
    config: dict[str, Any] = yaml.safe_load(INSTANCE_FILE.read_text())
    if not uses_postgres(settings):
        config["storage"] = {"sqlite": {"base_dir": str(home)}}
    return config


def prepare_dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME with a dagster.yaml for the current settings in it."""
    home = dagster_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(instance_config(settings, home), sort_keys=False)
    header = f"# Written by `aiops up` from {INSTANCE_FILE}; edit that file instead.\n"
    (home / "dagster.yaml").write_text(header + text)
    return home


def storage_url(settings: Settings, urls: ServiceUrls) -> str | None:
    """Where Dagster keeps runs, event logs and schedules, as a psycopg2 URL (dagster-postgres
    is written for psycopg2, and SQLAlchemy 2.1 picks psycopg 3 for a plain postgresql://);
    None for the local storage in DAGSTER_HOME."""
    if not uses_postgres(settings):
        return None
    url = settings.dagster_database_url or urlunsplit(
        urlsplit(urls.migration_database_url)._replace(path=f"/{STORAGE_DATABASE}")
    )
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql"):
        parts = parts._replace(scheme="postgresql+psycopg2")
    return urlunsplit(parts)


def ensure_storage_database(urls: ServiceUrls, url: str) -> None:
    """Creates the storage database if it is missing (Dagster creates its own tables)."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(urls.migration_database_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def migrate_storage_command(python: str) -> list[str]:
    """Run once, with dagster_env, before the daemon and webserver start: creates or
    upgrades Dagster's tables (PostgreSQL) or database files (SQLite), which both would
    otherwise race to create."""
    return [python, "-m", "dagster", "instance", "migrate"]


def dagster_env(settings: Settings, urls: ServiceUrls, home: Path) -> dict[str, str]:
    """Added to the Dagster processes' environment; runs launched by the daemon inherit it."""
    env = {
        "DAGSTER_HOME": str(home),
        "AI_AGENTS_WAREHOUSE_DIR": str(settings.warehouse_path.resolve()),
    }
    url = storage_url(settings, urls)
    if url is not None:
        env[STORAGE_URL_VARIABLE] = url
    return env


def dagster_specs(settings: Settings, python: str, env: Mapping[str, str]) -> list[ChildSpec]:
    """The daemon and the webserver, each with `env` (from dagster_env) added to its own."""
    workspace = str(WORKSPACE_FILE)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return [
        ChildSpec(
            "dagster-daemon",
            # The module behind the `dagster-daemon` console script.
            [python, "-m", "dagster._daemon", "run", "-w", workspace],
            extra_env=env,
        ),
        ChildSpec(
            "dagster-webserver",
            [
                python,
                "-m",
                "dagster_webserver",
                "-h",
                settings.host,
                "-p",
                str(settings.dagster_port),
                "-w",
                workspace,
            ],
            ready_url=f"http://{host}:{settings.dagster_port}/server_info",
            extra_env=env,
        ),
    ]
