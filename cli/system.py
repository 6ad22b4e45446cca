"""What `aiops up` runs, and what it prepares first (pure apart from the recovery store)."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Mapping
from pathlib import Path

from aiops.embedded import ServiceUrls
from aiops.settings import Settings
from cli.supervisor import ChildSpec
from ingest.metrics import MULTIPROCESS_DIR_VARIABLE

FLOW = "flows.enhance:build_flow()"
SANDBOX_WORKER = "flows.sandbox_worker"


def recovery_dir(settings: Settings) -> Path:
    return (settings.state_dir / "recovery").resolve()


def ensure_recovery_store(path: Path, partitions: int) -> int:
    """Creates the flow's recovery partitions the first time; returns how many there are.

    `bytewax.recovery` refuses to run twice on one folder, so the store is built aside
    and renamed into place: an interrupted first start leaves no half-made store.
    """
    from bytewax.recovery import init_db_dir

    existing = list(path.glob("part-*.sqlite3"))
    if existing:
        return len(existing)
    staging = path.with_name(path.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    init_db_dir(staging, partitions)
    if path.exists():
        path.rmdir()
    staging.rename(path)
    return partitions


def local_url(settings: Settings, port: int) -> str:
    """How this machine reaches a server that listens on settings.host."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{port}"


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def child_env(base: Mapping[str, str], settings: Settings, urls: ServiceUrls) -> dict[str, str]:
    """The children's environment: resolved servers, so none of them starts its own.

    They connect as the application role only: the owner's URL stays with `aiops up`.
    The master key and admin token reach them from the same state folder (or from the
    AI_AGENTS_* variables already in `base`), never on a command line.
    """
    env = {k: v for k, v in base.items() if k != "AI_AGENTS_MIGRATION_DATABASE_URL"}
    # The API creates and removes tenants as the operator role; never with the owner's URL.
    if urls.operator_database_url != urls.migration_database_url:
        env["AI_AGENTS_OPERATOR_DATABASE_URL"] = urls.operator_database_url
    env.update(
        {
            "AI_AGENTS_DATABASE_URL": urls.database_url,
            "AI_AGENTS_REDIS_URL": urls.redis_url,
            "AI_AGENTS_STATE_DIR": str(settings.state_dir.resolve()),
            "AI_AGENTS_HOST": settings.host,
            "AI_AGENTS_INGEST_PORT": str(settings.ingest_port),
            "AI_AGENTS_API_PORT": str(settings.api_port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    # No network fetch of the model price list when the flow imports litellm.
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return env


def _uvicorn(python: str, factory: str, settings: Settings, port: int) -> list[str]:
    return [
        python,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        settings.host,
        "--port",
        str(port),
    ]


def ingest_workers(settings: Settings) -> list[str]:
    """uvicorn's options for several ingest processes on one port (its parent process
    holds the socket and restarts a worker that dies)."""
    return ["--workers", str(settings.ingest_workers)] if settings.ingest_workers > 1 else []


def ingest_metrics_dir(settings: Settings) -> Path:
    return settings.state_dir / "ingest-metrics"


def ingest_metrics_env(settings: Settings) -> dict[str, str]:
    """With several ingest workers, prometheus_client's multiprocess mode: each worker
    writes its metrics to files in this folder and /metrics sums them, whichever worker
    answers the scrape."""
    if settings.ingest_workers <= 1:
        return {}
    return {MULTIPROCESS_DIR_VARIABLE: str(ingest_metrics_dir(settings).resolve())}


def child_specs(settings: Settings, python: str) -> list[ChildSpec]:
    """The processes of a running system, in start order; they stop in reverse.

    Ingest starts last and stops first, so no webhook is accepted while the rest is not
    there. Bytewax 0.21 has no graceful stop (SIGINT aborts it with a panic), so the flow
    is simply terminated: it resumes from its last snapshot, and replays are idempotent.
    The Dagster daemon and webserver (cli.dagster_processes) start before these.
    """
    return [
        ChildSpec(
            "api",
            _uvicorn(python, "api.app:create_app", settings, settings.api_port),
            ready_url=local_url(settings, settings.api_port) + "/health/ready",
        ),
        ChildSpec(
            "flow",
            [
                python,
                "-m",
                "bytewax.run",
                FLOW,
                "-r",
                str(recovery_dir(settings)),
                "-s",
                str(settings.flow_snapshot_seconds),
                "-b",
                str(settings.flow_backup_seconds),
            ],
        ),
        ChildSpec(
            "sandbox",
            [python, "-m", SANDBOX_WORKER],
            ready_url=(
                local_url(settings, settings.sandbox_worker_port) + "/health/ready"
                if settings.sandbox_worker_port
                else None
            ),
        ),
        ChildSpec(
            "ingest",
            # Ingest logs one line per webhook itself.
            [
                *_uvicorn(python, "ingest.app:create_app", settings, settings.ingest_port),
                "--no-access-log",
                *ingest_workers(settings),
            ],
            ready_url=local_url(settings, settings.ingest_port) + "/health/ready",
            extra_env=ingest_metrics_env(settings),
            fresh_dirs=(ingest_metrics_dir(settings),) if settings.ingest_workers > 1 else (),
        ),
    ]
