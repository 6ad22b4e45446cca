"""Trying an agent version without side effects: the sandbox, test cases, their runs.

Nothing here posts a note, writes an enhancement_history row or moves a production
metric; each run is stored (sandbox_runs, retained like history) with its full trace.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status

from aiops.events import Ticket
from api.agent_models import RunOut, RunSummary, SandboxIn, TestCaseIn, TestCaseOut, TestRunOut
from api.agent_runtime import SandboxDep, agent_or_404, version_or_404
from api.deps import AdminScopeDep, ReadScopeDep, TenantScope, errors
from flows import agent_deploy
from flows.agent_sandbox import UnknownTenantError
from warehouse import agent_runs, agents

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


@router.post(
    "/versions/{version}/sandbox",
    response_model=RunOut,
    responses=errors(401, 403, 404, 422),
)
def sandbox(
    scope: AdminScopeDep, runner: SandboxDep, agent_id: str, version: int, body: SandboxIn
) -> RunOut:
    """Runs the version on the ticket and answers with the trace: every stage in order
    with input, output and ms. Nothing is posted and no production row is written; the
    run is stored (GET …/runs/{run_id})."""
    with scope.connection() as conn:
        spec = version_or_404(conn, agent_id, version).spec
    ticket = _ticket(scope, body.ticket, body.ticket_id)
    try:
        run = runner.run(scope.tenant_id, agent_id, version, spec, ticket, kind="sandbox")
    except UnknownTenantError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return RunOut.model_validate(run.as_dict())


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
    with scope.connection() as conn:
        row = agent_runs.get_run(conn, agent_id, run_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id!r} of agent {agent_id!r}")
    return RunOut.model_validate(row)


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
    responses=errors(401, 403, 404),
)
def run_test_cases(
    scope: AdminScopeDep, runner: SandboxDep, agent_id: str, version: int
) -> TestRunOut:
    """Runs every test case of the version in the sandbox: pass/fail per case, each with
    its trace."""
    with scope.connection() as conn:
        version_or_404(conn, agent_id, version)
    outcome = agent_deploy.run_test_cases(runner, scope.tenant_id, agent_id, version)
    return TestRunOut(
        agent_id=agent_id,
        version=version,
        passed=outcome.passed,
        total=len(outcome.runs),
        failed=outcome.failed,
        results=[RunOut.model_validate(r.as_dict()) for r in outcome.runs],
    )
