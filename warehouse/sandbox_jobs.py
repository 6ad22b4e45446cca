"""sandbox_jobs: requests to the sandbox worker and what became of them (one tenant's rows).

A job is one sandbox run, one run of a version's test cases, or an activation gated by
them. The management API adds it (queued); the worker takes it (running), then records
its outcome: done, refused (an activation whose test cases fail, or that the agent's
state forbids) or failed (the worker could not run it). Retained like sandbox_runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from aiops.events import Ticket
from aiops.ticket_masking import mask_ticket
from warehouse.db import TenantConnection

JobKind = Literal["sandbox", "test_cases", "activate"]
JobStatus = Literal["queued", "running", "done", "refused", "failed"]
FINISHED: tuple[JobStatus, ...] = ("done", "refused", "failed")


@dataclass
class Job:
    job_id: str
    agent_id: str
    version: int
    kind: JobKind
    actor: str
    ticket: Ticket | None = None
    override_reason: str | None = None
    status: JobStatus = "queued"
    error: str | None = None
    run_ids: list[str] = field(default_factory=list)
    outcome: dict[str, Any] | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


_COLUMNS = (
    "job_id, agent_id, version, kind, actor, ticket, override_reason, status, error, "
    "run_ids, outcome, created_at, started_at, finished_at"
)


def _job(row: DictRow) -> Job:
    ticket = Ticket.model_validate(row["ticket"]) if row["ticket"] is not None else None
    return Job(**{**row, "ticket": ticket, "run_ids": list(row["run_ids"])})


def add(conn: TenantConnection, job: Job) -> Job:
    """The job as stored: a pasted ticket's credentials masked, as ingest masks a webhook's
    before anything durable holds it."""
    ticket = mask_ticket(job.ticket) if job.ticket is not None else None
    row = conn.execute(
        f"""
        INSERT INTO sandbox_jobs (tenant_id, job_id, agent_id, version, kind, actor, ticket,
            override_reason)
        VALUES (current_setting('app.current_tenant_id', true), %s, %s, %s, %s, %s, %s, %s)
        RETURNING {_COLUMNS}
        """,
        (
            job.job_id,
            job.agent_id,
            job.version,
            job.kind,
            job.actor,
            Jsonb(ticket.model_dump(mode="json")) if ticket is not None else None,
            job.override_reason,
        ),
    ).fetchone()
    assert row is not None
    return _job(row)


def get(conn: TenantConnection, agent_id: str, job_id: str) -> Job | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM sandbox_jobs WHERE agent_id = %s AND job_id = %s",
        (agent_id, job_id),
    ).fetchone()
    return _job(row) if row is not None else None


def start(conn: TenantConnection, job_id: str, stale_seconds: float) -> Job | None:
    """Takes a queued job, or one left running longer than `stale_seconds` (its worker
    stopped midway); None when it is finished or another worker has it."""
    row = conn.execute(
        f"""
        UPDATE sandbox_jobs SET status = 'running', started_at = now()
        WHERE job_id = %s AND (status = 'queued'
            OR (status = 'running' AND started_at < now() - make_interval(secs => %s)))
        RETURNING {_COLUMNS}
        """,
        (job_id, stale_seconds),
    ).fetchone()
    return _job(row) if row is not None else None


def finish(
    conn: TenantConnection,
    job_id: str,
    status: JobStatus,
    *,
    run_ids: list[str],
    outcome: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    conn.execute(
        "UPDATE sandbox_jobs SET status = %s, run_ids = %s, outcome = %s, error = %s, "
        "finished_at = now() WHERE job_id = %s",
        (status, run_ids, Jsonb(outcome) if outcome is not None else None, error, job_id),
    )
