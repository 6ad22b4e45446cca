"""What the agent routes share: handing a job to the sandbox worker and waiting for it, who
is acting, and the 404s of an unknown agent or version.

The API never runs an agent itself: a sandbox run, a run of the test cases or a gated
activation is recorded as a job (warehouse.sandbox_jobs, under the tenant's RLS) and the
sandbox worker (flows.sandbox_worker) runs it. The request waits for the job up to
AI_AGENTS_SANDBOX_WAIT_SECONDS and answers its result; a job still running by then is
answered 202 with the job, to poll at GET …/jobs/{job_id}.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import redis
from fastapi import Depends, HTTPException, status
from fastapi.responses import JSONResponse

from aiops import sandbox_queue
from aiops.events import Ticket
from api.agent_models import JobOut
from api.deps import Principal, StateDep
from api.deps import TenantScope as Scope
from api.models import ErrorOut
from warehouse import agents, sandbox_jobs
from warehouse.db import TenantConnection
from warehouse.sandbox_jobs import Job, JobKind

PLATFORM_ACTOR = "platform-admin"
NO_WORKER = (
    "the sandbox worker is not running, so nothing was run; start it (`aiops up` starts "
    "one, Kubernetes: the aiops-sandbox Deployment) and try again"
)
# The answers a route handing a job to the worker adds to its own.
JOB_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "model": JobOut,
        "description": "Still running after AI_AGENTS_SANDBOX_WAIT_SECONDS: the job, to poll "
        "at its `poll` URL until its status is done, refused or failed.",
    },
    503: {
        "model": ErrorOut,
        "description": "No sandbox worker is running (nothing was recorded), or PostgreSQL "
        "or Redis is unreachable.",
    },
}
# Below the API's Redis socket timeout, so a wait never looks like a lost connection.
_WAIT_STEP_SECONDS = 1.0


def actor(principal: Principal) -> str:
    """Who did it, as deployments and versions record it."""
    return PLATFORM_ACTOR if principal.is_platform else f"key:{principal.key_id}"


def agent_or_404(conn: TenantConnection, agent_id: str) -> agents.Agent:
    agent = agents.get_agent(conn, agent_id)
    if agent is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no agent {agent_id!r} for this tenant")
    return agent


def version_or_404(conn: TenantConnection, agent_id: str, version: int) -> agents.Version:
    agent_or_404(conn, agent_id)
    found = agents.get_version(conn, agent_id, version)
    if found is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"agent {agent_id!r} has no version {version}"
        )
    return found


def job_path(tenant_id: str, agent_id: str, job_id: str) -> str:
    return f"/tenants/{tenant_id}/agents/{agent_id}/jobs/{job_id}"


def job_out(tenant_id: str, job: Job) -> JobOut:
    return JobOut(
        job_id=job.job_id,
        agent_id=job.agent_id,
        version=job.version,
        kind=job.kind,
        status=job.status,
        error=job.error,
        run_ids=job.run_ids,
        outcome=job.outcome,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        poll=job_path(tenant_id, job.agent_id, job.job_id),
    )


def still_running(tenant_id: str, job: Job) -> JSONResponse:
    body = job_out(tenant_id, job)
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=status.HTTP_202_ACCEPTED,
        headers={"Location": body.poll},
    )


class Jobs:
    """Records jobs for the sandbox worker, wakes it and waits for their end."""

    def __init__(self, client: redis.Redis, prefix: str, wait_seconds: float) -> None:
        self._client = client
        self._prefix = prefix
        self._wait_seconds = wait_seconds

    def submit(
        self,
        scope: Scope,
        kind: JobKind,
        agent_id: str,
        version: int,
        *,
        ticket: Ticket | None = None,
        override_reason: str | None = None,
    ) -> Job:
        """The job, finished if the worker ended it within the wait; 503 without a worker."""
        try:
            alive = sandbox_queue.worker_alive(self._client, self._prefix)
        except redis.RedisError:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, "Redis is unreachable; try again shortly"
            ) from None
        if not alive:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, NO_WORKER)
        new = Job(
            job_id=uuid.uuid4().hex,
            agent_id=agent_id,
            version=version,
            kind=kind,
            actor=actor(scope.principal),
            ticket=ticket,
            override_reason=override_reason,
        )
        with scope.connection() as conn:
            job = sandbox_jobs.add(conn, new)
        try:
            sandbox_queue.request(self._client, self._prefix, scope.tenant_id, job.job_id)
            sandbox_queue.wait_done(
                self._client, self._prefix, job.job_id, self._wait_seconds, _WAIT_STEP_SECONDS
            )
        except redis.RedisError:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"Redis is unreachable; job {job.job_id} may not run: check it at "
                f"{job_path(scope.tenant_id, agent_id, job.job_id)} or try again",
            ) from None
        with scope.connection() as conn:
            found = sandbox_jobs.get(conn, agent_id, job.job_id)
        assert found is not None
        return found


def get_jobs(state: StateDep) -> Jobs:
    return Jobs(state.redis, state.settings.stream_prefix, state.settings.sandbox_wait_seconds)


JobsDep = Annotated[Jobs, Depends(get_jobs)]


def failed_job(job: Job) -> HTTPException:
    """A job the worker could not run (a refused activation is the route's own answer)."""
    return HTTPException(
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        f"the sandbox worker could not run job {job.job_id}: {job.error}",
    )
