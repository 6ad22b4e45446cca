"""`aiops up`: the whole system in one terminal, until Ctrl-C."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Annotated

import redis
import typer

from aiops.embedded import services
from aiops.logs import configure_logging
from aiops.process_health import status_path
from aiops.running_system import RunningSystem, announce, forget
from aiops.secrets import admin_token, secret_box
from aiops.settings import Settings
from cli import dagster_processes, system
from cli.console import fail, heading
from cli.runtime import explained_errors, is_embedded, load_settings, migrate_database
from cli.supervisor import ChildFailed, Supervisor
from warehouse.db import Database
from warehouse.tenant_context import context_keys
from warehouse.tenants import publish_all

log = logging.getLogger("aiops.up")

READY_LINE = "ready:"


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C, SIGTERM and a closed terminal all ask for the same orderly stop."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        if not stop.is_set():
            log.warning("%s received; stopping", signal.Signals(signum).name)
        stop.set()

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, handler) for signum in signals}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _banner(settings: Settings) -> None:
    ingest = system.local_url(settings, settings.ingest_port)
    api = system.local_url(settings, settings.api_port)
    dagster = system.local_url(settings, settings.dagster_port)
    token = (
        "AI_AGENTS_ADMIN_TOKEN"
        if settings.admin_token is not None
        else str((settings.state_dir / "admin.token").resolve())
    )
    heading("\nAI Ops is running.")
    typer.echo(f"  Webhook ingest:  {ingest}  (ITSMs reach it as {settings.ingest_base_url})")
    typer.echo(f"  Management API:  {api}  (docs: {api}/docs)")
    typer.echo(f"  Dagster UI:      {dagster}")
    typer.echo(f"  Admin token:     {token}  (send as 'Authorization: Bearer <token>')")
    if is_embedded(settings):
        typer.echo(f"  Data:            {settings.state_dir.resolve()}")
    typer.echo("\nNext, in another terminal (source .venv/bin/activate first):")
    typer.echo("  aiops demo                       # see it work with built-in tickets")
    typer.echo(
        "  aiops tenants create acme --name 'Acme Corp' --servicedesk-url https://sdp.acme.example"
    )
    typer.echo("Stop with Ctrl-C.\n")
    typer.echo(f"{READY_LINE} ingest={ingest} api={api} dagster={dagster}")
    sys.stdout.flush()


def up(
    ingest_port: Annotated[
        int | None,
        typer.Option(help="Port for webhooks. Default: AI_AGENTS_INGEST_PORT, else 8000."),
    ] = None,
    api_port: Annotated[
        int | None,
        typer.Option(help="Port for the management API. Default: AI_AGENTS_API_PORT, else 8001."),
    ] = None,
    dagster_port: Annotated[
        int | None,
        typer.Option(help="Port for the Dagster UI. Default: AI_AGENTS_DAGSTER_PORT, else 3000."),
    ] = None,
    ingest_workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Ingest processes on the webhook port, up to one per core. "
            "Default: AI_AGENTS_INGEST_WORKERS, else 1.",
        ),
    ] = None,
    ready_timeout: Annotated[
        float, typer.Option(help="Seconds the processes get to become ready.")
    ] = 90.0,
) -> None:
    """Start the whole system in this terminal; Ctrl-C stops it.

    Database and Redis (embedded unless configured), migrations, webhook ingest,
    the enhancement flow, the agent sandbox worker, the management API and the
    Dagster daemon and UI.

    Prints a line starting with 'ready:' once webhooks are accepted and the
    Dagster UI answers.

    A process that dies, the embedded Redis and PostgreSQL included, is
    restarted with backoff; one that keeps dying is retried every 30 s and named
    in the log and in /health/ready of ingest and the API, while the rest keeps
    serving. Ctrl-C (or SIGTERM) stops the processes, then the servers. Data
    stays in the state folder (AI_AGENTS_STATE_DIR) for the next start.
    """
    settings = load_settings()
    overrides = {
        "ingest_port": ingest_port,
        "api_port": api_port,
        "dagster_port": dagster_port,
        "ingest_workers": ingest_workers,
    }
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    for what, port, option in (
        ("webhook ingest", settings.ingest_port, "--ingest-port / AI_AGENTS_INGEST_PORT"),
        ("management API", settings.api_port, "--api-port / AI_AGENTS_API_PORT"),
        ("Dagster UI", settings.dagster_port, "--dagster-port / AI_AGENTS_DAGSTER_PORT"),
        ("sandbox worker", settings.sandbox_worker_port, "AI_AGENTS_SANDBOX_WORKER_PORT"),
    ):
        if not port:
            continue
        if system.port_in_use(settings.host, port):
            fail(
                f"port {port} on {settings.host} is taken (is AI Ops already running?); "
                f"pick another port for the {what} with {option}"
            )
    configure_logging("up", settings.log_level, settings.log_format)
    # pgserver narrates every server command at INFO.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    stop = threading.Event()
    failure: str | None = None
    with _stop_on_signals(stop), explained_errors(), services(settings) as urls:
        migrate_database(settings, urls)
        home = dagster_processes.prepare_dagster_home(settings)
        dagster_storage = dagster_processes.storage_url(settings, urls)
        if dagster_storage is not None:
            dagster_processes.ensure_storage_database(urls, dagster_storage)
        env = system.child_env(os.environ, settings, urls)
        dagster_env = dagster_processes.dagster_env(settings, urls, home)
        box = secret_box(settings)
        admin_token(settings)
        client = redis.Redis.from_url(urls.redis_url)
        try:
            with Database(urls.database_url, context_keys(box).signing, max_size=2) as db:
                published = publish_all(db, box, client, settings.stream_prefix)
        finally:
            client.close()
        log.info("published webhook secrets of %d tenants to the ingest directory", published)
        partitions = system.ensure_recovery_store(
            system.recovery_dir(settings), settings.flow_recovery_partitions
        )
        if partitions != settings.flow_recovery_partitions:
            log.warning(
                "the flow recovery store keeps the %d partitions it was created with "
                "(AI_AGENTS_FLOW_RECOVERY_PARTITIONS=%d applies to a new store only)",
                partitions,
                settings.flow_recovery_partitions,
            )
        # Before the daemon and webserver start, which would race to create the tables.
        try:
            subprocess.run(
                dagster_processes.migrate_storage_command(sys.executable),
                env={**env, **dagster_env},
                stdin=subprocess.DEVNULL,
                check=True,
            )
        except subprocess.CalledProcessError as exc:
            fail(f"migrating Dagster's storage failed (exit code {exc.returncode}); see above")
        supervisor = Supervisor(
            [
                *dagster_processes.dagster_specs(settings, sys.executable, dagster_env),
                *system.child_specs(settings, sys.executable),
            ],
            env,
            servers=urls.servers,
            status_file=status_path(settings.state_dir),
        )
        try:
            if not stop.is_set():
                supervisor.start()
                supervisor.wait_ready(ready_timeout, stop)
            if not stop.is_set():
                announce(
                    settings.state_dir,
                    RunningSystem(
                        ingest_base_url=settings.ingest_base_url,
                        ingest_url=system.local_url(settings, settings.ingest_port),
                        api_url=system.local_url(settings, settings.api_port),
                    ),
                )
                _banner(settings)
            while not stop.is_set():
                supervisor.check()
                stop.wait(0.5)
        except ChildFailed as exc:
            failure = str(exc)
        finally:
            supervisor.stop()
            forget(settings.state_dir)
    if failure is not None:
        fail(f"{failure}. AI Ops stopped.")
    typer.echo("AI Ops stopped; data is kept for the next `aiops up`.")
