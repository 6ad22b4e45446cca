"""Trying an agent version without side effects: the sandbox, test cases, their runs.

Nothing here posts a note, writes an enhancement_history row or moves a production
metric; each run is stored (sandbox_runs, retained like history) with its full trace.
The sandbox worker runs them (api.agent_runtime): a request waits for it a bounded time,
then answers 202 with the job to poll.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.responses import JSONResponse

from aiops.events import Ticket
from api.agent_models import (
    JobOut,
    RunOut,
    RunSummary,
    SandboxIn,
    TestCaseIn,
    TestCaseOut,
    TestRunOut,
)
from api.agent_runtime import (
    JOB_RESPONSES,
    JobsDep,
    agent_or_404,
    failed_job,
    job_out,
    still_running,
    version_or_404,
)
from api.deps import AdminScopeDep, ReadScopeDep, TenantScope, errors
from warehouse import agent_runs, agents, sandbox_jobs
from warehouse.sandbox_jobs import Job

router = APIRouter(prefix="/tenants/{tenant_id}/agents/{agent_id}", tags=["agent sandbox"])


def _ticket(scope: TenantScope, ticket: Ticket | None, ticket_id: str | None) -> Ticket:
    if ticket is not None:
        return ticket
    assert ticket_id is not None
    with scope.connection() as conn:
        found = agent_runs.history_ticket(conn, ticket_id)
    if found is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no ticket {ticket_id!r} in this tenant's history; paste the ticket instead",
        )
    return found


def _run_out(scope: TenantScope, agent_id: str, run_id: str) -> RunOut:
    with scope.connection() as conn:
        row = agent_runs.get_run(conn, agent_id, run_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id!r} of agent {agent_id!r}")
    return RunOut.model_validate(row)


def _test_run_out(scope: TenantScope, job: Job) -> TestRunOut:
    results = [_run_out(scope, job.agent_id, run_id) for run_id in job.run_ids]
    failed = sum(1 for r in results if not r.passed)
    return TestRunOut(
        agent_id=job.agent_id,
        version=job.version,
        passed=failed == 0,
        total=len(results),
        failed=failed,
        results=results,
    )


@router.post(
    "/versions/{version}/sandbox",
    response_model=RunOut,
    responses={**errors(401, 403, 404, 422), **JOB_RESPONSES},
)
def sandbox(
    scope: AdminScopeDep, jobs: JobsDep, agent_id: str, version: int, body: SandboxIn
) -> RunOut | JSONResponse:
    """Runs the version on the ticket through production's stages and answers with the
    trace: every stage in order with input, output and ms. Nothing is posted and no
    production row is written; the run is stored (GET …/runs/{run_id}, the run id being
    the job id)."""
    with scope.connection() as conn:
        version_or_404(conn, agent_id, version)
    ticket = _ticket(scope, body.ticket, body.ticket_id)
    job = jobs.submit(scope, "sandbox", agent_id, version, ticket=ticket)
    if not job.finished:
        return still_running(scope.tenant_id, job)
    if job.status != "done":
        raise failed_job(job)
    return _run_out(scope, agent_id, job.job_id)


@router.get("/jobs/{job_id}", response_model=JobOut, responses=errors(401, 404))
def get_job(scope: ReadScopeDep, agent_id: str, job_id: str) -> JobOut:
    """A sandbox, test-case or activation job: queued, running, then done, refused or
    failed, with the runs it made."""
    with scope.connection() as conn:
        job = sandbox_jobs.get(conn, agent_id, job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id!r} of agent {agent_id!r}")
    return job_out(scope.tenant_id, job)


@router.get("/runs", response_model=list[RunSummary], responses=errors(401, 404))
def list_runs(
    scope: ReadScopeDep,
    agent_id: str,
    version: Annotated[int | None, Query(description="Only this version's runs.")] = None,
    kind: Annotated[Literal["sandbox", "test_case", "shadow"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[RunSummary]:
    """Newest first, without their traces."""
    with scope.connection() as conn:
        agent_or_404(conn, agent_id)
        rows = agent_runs.list_runs(conn, agent_id, version=version, kind=kind, limit=limit)
    return [RunSummary.model_validate(r) for r in rows]


@router.get("/runs/{run_id}", response_model=RunOut, responses=errors(401, 404))
def get_run(scope: ReadScopeDep, agent_id: str, run_id: str) -> RunOut:
    """One run with its full trace."""
    return _run_out(scope, agent_id, run_id)


@router.get(
    "/versions/{version}/test-cases",
    response_model=list[TestCaseOut],
    responses=errors(401, 404),
)
def list_test_cases(scope: ReadScopeDep, agent_id: str, version: int) -> list[TestCaseOut]:
    with scope.connection() as conn:
        version_or_404(conn, agent_id, version)
        cases = agents.list_test_cases(conn, agent_id, version)
    return [TestCaseOut.model_validate(c, from_attributes=True) for c in cases]


@router.post(
    "/versions/{version}/test-cases",
    response_model=TestCaseOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 422),
)
def add_test_case(
    scope: AdminScopeDep, agent_id: str, version: int, body: TestCaseIn
) -> TestCaseOut:
    """A ticket and the expectations its note must meet. A ticket id is copied from the
    history now, so the case stays the same when the history changes."""
    with scope.connection() as conn:
        version_or_404(conn, agent_id, version)
    ticket = _ticket(scope, body.ticket, body.ticket_id)
    with scope.connection() as conn:
        case = agents.add_test_case(conn, agent_id, version, body.name, ticket, body.expectations)
    return TestCaseOut.model_validate(case, from_attributes=True)


@router.delete(
    "/versions/{version}/test-cases/{case_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 403, 404),
)
def delete_test_case(scope: AdminScopeDep, agent_id: str, version: int, case_id: int) -> Response:
    with scope.connection() as conn:
        version_or_404(conn, agent_id, version)
        if not agents.delete_test_case(conn, agent_id, version, case_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no test case {case_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/versions/{version}/test-runs",
    response_model=TestRunOut,
    responses={**errors(401, 403, 404), **JOB_RESPONSES},
)
def run_test_cases(
    scope: AdminScopeDep, jobs: JobsDep, agent_id: str, version: int
) -> TestRunOut | JSONResponse:
    """Runs every test case of the version in the sandbox: pass/fail per case, each with
    its trace."""
    with scope.connection() as conn:
        version_or_404(conn, agent_id, version)
    job = jobs.submit(scope, "test_cases", agent_id, version)
    if not job.finished:
        return still_running(scope.tenant_id, job)
    if job.status != "done":
        raise failed_job(job)
    return _test_run_out(scope, job)
