"""The sandbox worker: runs the jobs the management API records, one at a time.

    python -m flows.sandbox_worker

A job (warehouse.sandbox_jobs) is a sandbox run, a run of a version's test cases, or an
activation that the test cases gate (flows.agent_deploy: the version goes live only if
every case passes or an override is given, in one transaction). The API wakes the worker
through a Redis stream (aiops.sandbox_queue); each run is stored in sandbox_runs with its
trace, and the job's outcome in sandbox_jobs. A job left running by a worker that stopped
is taken again once its stream entry has been idle for STALE_SECONDS.

Health and Prometheus metrics on AI_AGENTS_SANDBOX_WORKER_PORT: /health/live,
/health/ready (Redis and PostgreSQL answer), /metrics.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

import redis
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from aiops import sandbox_queue
from aiops.embedded import services
from aiops.logs import configure_logging
from aiops.secrets import secret_box
from aiops.settings import Settings, get_settings
from flows import agent_deploy
from flows.agent_sandbox import Sandbox
from warehouse import agents, sandbox_jobs
from warehouse.agent_runs import RunRecord
from warehouse.db import Database
from warehouse.sandbox_jobs import Job, JobStatus
from warehouse.tenant_context import context_keys

log = logging.getLogger(__name__)

STALE_SECONDS = 900.0  # longer than any job: a whole chain of slow models per test case
_READ_BLOCK_MS = 1_000
_ERROR_CHARS = 2_000


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Counter(
            "aiops_sandbox_jobs",
            "Sandbox jobs finished, by kind and status (done, refused, failed).",
            ["kind", "status"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "aiops_sandbox_job_seconds",
            "Time from taking a sandbox job to its end.",
            ["kind"],
            buckets=(0.1, 0.5, 1, 2, 5, 10, 20, 60, 120, 300),
            registry=self.registry,
        )
        self.running = Gauge(
            "aiops_sandbox_jobs_running", "Sandbox jobs being run now.", registry=self.registry
        )
        self.last_poll = Gauge(
            "aiops_sandbox_worker_last_poll_timestamp_seconds",
            "When the worker last read its stream (Unix time).",
            registry=self.registry,
        )


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]


class SandboxWorker:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        client: redis.Redis,
        sandbox: Sandbox,
        metrics: WorkerMetrics,
        name: str | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._client = client
        self._sandbox = sandbox
        self.metrics = metrics
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self._prefix = settings.stream_prefix
        self._stream = sandbox_queue.stream(self._prefix)

    def prepare(self) -> None:
        with contextlib.suppress(redis.ResponseError):  # BUSYGROUP: it exists already
            self._client.xgroup_create(self._stream, sandbox_queue.GROUP, id="0", mkstream=True)

    def beat(self) -> None:
        sandbox_queue.beat(self._client, self._prefix, self.name)

    def poll(self, block_ms: int = _READ_BLOCK_MS) -> int:
        """Runs what is waiting: entries left idle by a stopped worker, else the next new
        one (waiting up to `block_ms` for it). Returns how many jobs were handled."""
        self.metrics.last_poll.set_to_current_time()
        # [next id, entries] (Redis 6.2), or with the deleted ids third (Redis 7).
        claimed: Any = self._client.xautoclaim(
            self._stream,
            sandbox_queue.GROUP,
            self.name,
            min_idle_time=int(STALE_SECONDS * 1000),
            count=1,
        )
        entries = list(claimed[1])
        if not entries:
            reply: Any = self._client.xreadgroup(
                sandbox_queue.GROUP, self.name, {self._stream: ">"}, count=1, block=block_ms
            )
            entries = [e for _, found in reply or [] for e in found]
        for entry_id, fields in entries:
            self._handle(entry_id, fields)
        return len(entries)

    def _handle(self, entry_id: Any, fields: dict[Any, Any]) -> None:
        decoded = {_text(k): _text(v) for k, v in fields.items()}
        tenant_id, job_id = decoded.get("tenant_id"), decoded.get("job_id")
        if tenant_id and job_id:
            self.run_job(tenant_id, job_id)
        else:
            log.error("sandbox stream entry %s names no tenant or job; dropped", entry_id)
        self._client.xack(self._stream, sandbox_queue.GROUP, entry_id)

    def run_job(self, tenant_id: str, job_id: str) -> None:
        with self._db.tenant(tenant_id) as conn:
            job = sandbox_jobs.start(conn, job_id, STALE_SECONDS)
        if job is None:  # finished already, or taken by another worker
            return
        started = time.perf_counter()
        self.metrics.running.inc()
        run_ids: list[str] = []
        status: JobStatus = "failed"
        try:
            status, outcome, error = self._run(tenant_id, job, run_ids)
        except Exception as exc:
            log.exception("tenant %s sandbox job %s failed", tenant_id, job_id)
            outcome, error = None, _reason(exc)
        finally:
            self.metrics.running.dec()
        with self._db.tenant(tenant_id) as conn:
            sandbox_jobs.finish(conn, job_id, status, run_ids=run_ids, outcome=outcome, error=error)
        self.metrics.jobs.labels(job.kind, status).inc()
        self.metrics.seconds.labels(job.kind).observe(time.perf_counter() - started)
        sandbox_queue.announce_done(self._client, self._prefix, job_id)
        log.info("tenant %s sandbox job %s (%s): %s", tenant_id, job_id, job.kind, status)

    def _run(
        self, tenant_id: str, job: Job, run_ids: list[str]
    ) -> tuple[JobStatus, dict[str, Any] | None, str | None]:
        def progress(run: RunRecord) -> None:
            run_ids.append(run.run_id)

        if job.kind == "sandbox":
            with self._db.tenant(tenant_id) as conn:
                found = agents.get_version(conn, job.agent_id, job.version)
            if found is None or job.ticket is None:
                return "failed", None, f"agent {job.agent_id!r} has no version {job.version}"
            run = self._sandbox.run(
                tenant_id,
                job.agent_id,
                job.version,
                found.spec,
                job.ticket,
                kind="sandbox",
                run_id=job.job_id,
            )
            progress(run)
            return "done", {"run_status": run.status}, None
        try:
            if job.kind == "test_cases":
                tested = agent_deploy.run_test_cases(
                    self._sandbox, tenant_id, job.agent_id, job.version, progress
                )
                return "done", {"passed": tested.passed, "failed": tested.failed}, None
            made = agent_deploy.activate(
                self._sandbox,
                tenant_id,
                job.agent_id,
                job.version,
                job.actor,
                job.override_reason,
                progress,
            )
        except (agent_deploy.TestsFailedError, agents.AgentStateError) as exc:
            return "refused", None, str(exc)
        deployment = {**asdict(made), "created_at": made.created_at.isoformat()}
        return "done", {"deployment": deployment}, None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Health(BaseHTTPRequestHandler):
    worker: SandboxWorker
    db: Database
    client: redis.Redis

    def do_GET(self) -> None:
        if self.path == "/metrics":
            self._answer(200, generate_latest(self.worker.metrics.registry), CONTENT_TYPE_LATEST)
        elif self.path == "/health/live":
            self._answer(200, b'{"status": "ok"}', "application/json")
        elif self.path == "/health/ready":
            try:
                self.client.ping()
                self.db.ping()
            except Exception as exc:
                body = f'{{"status": "unavailable", "reason": "{type(exc).__name__}"}}'
                self._answer(503, body.encode(), "application/json")
            else:
                self._answer(200, b'{"status": "ok"}', "application/json")
        else:
            self._answer(404, b'{"detail": "not found"}', "application/json")

    def _answer(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds would drown the log."""


def serve_health(
    worker: SandboxWorker, db: Database, client: redis.Redis, host: str, port: int
) -> ThreadingHTTPServer:
    handler = type("Health", (_Health,), {"worker": worker, "db": db, "client": client})
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, name="sandbox-health", daemon=True).start()
    return server


def run(settings: Settings, stop: threading.Event) -> None:
    """Until `stop` is set: beats, and runs each job the API records."""
    with contextlib.ExitStack() as stack:
        urls = stack.enter_context(services(settings))
        box = secret_box(settings)
        db = stack.enter_context(Database(urls.database_url, context_keys(box).signing, max_size=4))
        client = redis.Redis.from_url(
            urls.redis_url, socket_timeout=_READ_BLOCK_MS / 1000 + settings.redis_timeout_seconds
        )
        stack.callback(client.close)
        sandbox = Sandbox(db, settings, box)
        stack.callback(sandbox.close)
        worker = SandboxWorker(settings, db, client, sandbox, WorkerMetrics())
        if settings.sandbox_worker_port:
            server = serve_health(worker, db, client, settings.host, settings.sandbox_worker_port)
            stack.callback(server.server_close)
            stack.callback(server.shutdown)
        worker.prepare()
        beats = threading.Thread(target=_beat_until, args=(worker, stop), daemon=True)
        beats.start()
        log.info("sandbox worker %s ready", worker.name)
        while not stop.is_set():
            try:
                worker.poll()
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # The stream went (a flushed or replaced Redis): its group comes back.
                log.warning("sandbox worker: the job stream was emptied; recreating it")
                worker.prepare()
            except redis.RedisError as exc:
                log.warning("sandbox worker: Redis unavailable (%s); trying again", exc)
                stop.wait(1.0)


def _beat_until(worker: SandboxWorker, stop: threading.Event) -> None:
    """On a thread of its own, so a long job does not make the worker look gone."""
    while not stop.is_set():
        try:
            worker.beat()
        except redis.RedisError as exc:
            log.warning("sandbox worker: heartbeat not sent (%s)", exc)
        stop.wait(sandbox_queue.BEAT_SECONDS)


def main() -> None:
    settings = get_settings()
    configure_logging("sandbox", settings.log_level, settings.log_format)
    stop = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received; stopping after the current job", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)
    run(settings, stop)


if __name__ == "__main__":
    main()
