"""A tenant's enhancement agents: define them and their versions, deploy, roll back, monitor.

Versions are immutable: a change is a new version. A version goes live only when all its
test cases pass, unless the caller overrides with a reason (recorded with who did it); a
rollback goes back to the version that was active before, in one call. The flow follows
a change within AI_AGENTS_TENANT_CACHE_SECONDS; events already running finish on the
version they started with.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.responses import JSONResponse

from aiops.agent_spec import AgentSpec, default_spec
from aiops.settings import Settings
from api.agent_models import (
    ActivateIn,
    AgentCreate,
    AgentMetricsOut,
    AgentOut,
    AgentUpdate,
    DeploymentOut,
    ReasonIn,
    ShadowComparison,
    VersionCreate,
    VersionMetrics,
    VersionOut,
)
from api.agent_runtime import (
    JOB_RESPONSES,
    JobsDep,
    actor,
    agent_or_404,
    failed_job,
    still_running,
    version_or_404,
)
from api.deps import AdminScopeDep, ReadScopeDep, SettingsDep, TenantScope, errors
from warehouse import agent_metrics, agents
from warehouse.db import TenantConnection

router = APIRouter(prefix="/tenants/{tenant_id}/agents", tags=["agents"])


def _conflict(exc: agents.AgentStateError) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, str(exc))


@router.get("", response_model=list[AgentOut], responses=errors(401, 404))
def list_agents(scope: ReadScopeDep) -> list[AgentOut]:
    """The tenant's agents, by priority. None: the tenant gets the default agent."""
    with scope.connection() as conn:
        return [AgentOut.model_validate(a, from_attributes=True) for a in agents.list_agents(conn)]


@router.get("/default-spec", response_model=AgentSpec, responses=errors(401, 404))
def get_default_spec(_scope: ReadScopeDep, settings: SettingsDep) -> AgentSpec:
    """What a tenant without an active agent gets (agent 'default', version 0): a starting
    point for a first version."""
    return default_spec(settings.similar_tickets_k, settings.kb_articles_k)


@router.post(
    "",
    response_model=AgentOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 422),
)
def create_agent(scope: AdminScopeDep, body: AgentCreate) -> AgentOut:
    """A new agent, inactive; with `spec`, its version 1 too."""
    with scope.connection() as conn:
        try:
            agents.create_agent(conn, body.agent_id, body.name, body.description, body.priority)
        except agents.AgentStateError as exc:
            raise _conflict(exc) from None
        if body.spec is not None:
            agents.add_version(conn, body.agent_id, body.spec, "", actor(scope.principal))
        return AgentOut.model_validate(agent_or_404(conn, body.agent_id), from_attributes=True)


@router.get("/{agent_id}", response_model=AgentOut, responses=errors(401, 404))
def get_agent(scope: ReadScopeDep, agent_id: str) -> AgentOut:
    with scope.connection() as conn:
        return AgentOut.model_validate(agent_or_404(conn, agent_id), from_attributes=True)


@router.patch("/{agent_id}", response_model=AgentOut, responses=errors(401, 403, 404, 422))
def update_agent(scope: AdminScopeDep, agent_id: str, body: AgentUpdate) -> AgentOut:
    """Name, description, priority. What the agent does lives in its versions."""
    with scope.connection() as conn:
        agent_or_404(conn, agent_id)
        agents.update_agent(conn, agent_id, body.name, body.description, body.priority)
        return AgentOut.model_validate(agent_or_404(conn, agent_id), from_attributes=True)


@router.delete(
    "/{agent_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 403, 404, 409)
)
def delete_agent(scope: AdminScopeDep, agent_id: str) -> Response:
    """Only an agent with no active or shadow version (deactivate it first). Its versions,
    test cases and runs go with it; history rows keep the version number they name."""
    with scope.connection() as conn:
        agent_or_404(conn, agent_id)
        try:
            agents.delete_agent(conn, agent_id)
        except agents.AgentStateError as exc:
            raise _conflict(exc) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _version_out(conn: TenantConnection, agent: agents.Agent, v: agents.Version) -> VersionOut:
    return VersionOut(
        agent_id=v.agent_id,
        version=v.version,
        spec=v.spec,
        comment=v.comment,
        created_by=v.created_by,
        created_at=v.created_at,
        state=agent.state_of(v.version),
        test_cases=agents.count_test_cases(conn, v.agent_id, v.version),
    )


@router.get("/{agent_id}/versions", response_model=list[VersionOut], responses=errors(401, 404))
def list_versions(scope: ReadScopeDep, agent_id: str) -> list[VersionOut]:
    """Newest first."""
    with scope.connection() as conn:
        agent = agent_or_404(conn, agent_id)
        return [_version_out(conn, agent, v) for v in agents.list_versions(conn, agent_id)]


@router.post(
    "/{agent_id}/versions",
    response_model=VersionOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 422),
)
def create_version(scope: AdminScopeDep, agent_id: str, body: VersionCreate) -> VersionOut:
    """The next version number; inactive until activated."""
    with scope.connection() as conn:
        agent = agent_or_404(conn, agent_id)
        if body.copy_test_cases_from is not None:
            version_or_404(conn, agent_id, body.copy_test_cases_from)
        made = agents.add_version(
            conn,
            agent_id,
            body.spec,
            body.comment,
            actor(scope.principal),
            copy_test_cases_from=body.copy_test_cases_from,
        )
        return _version_out(conn, agent, made)


@router.get("/{agent_id}/versions/{version}", response_model=VersionOut, responses=errors(401, 404))
def get_version(scope: ReadScopeDep, agent_id: str, version: int) -> VersionOut:
    with scope.connection() as conn:
        return _version_out(
            conn, agent_or_404(conn, agent_id), version_or_404(conn, agent_id, version)
        )


# Deploy -----------------------------------------------------------------------------------


def _deployment(d: agents.Deployment) -> DeploymentOut:
    return DeploymentOut.model_validate(d, from_attributes=True)


@router.post(
    "/{agent_id}/versions/{version}/activate",
    response_model=DeploymentOut,
    responses={**errors(401, 403, 404, 409, 422), **JOB_RESPONSES},
)
def activate(
    scope: AdminScopeDep,
    jobs: JobsDep,
    agent_id: str,
    version: int,
    body: ActivateIn | None = None,
) -> DeploymentOut | JSONResponse:
    """Runs every test case of the version; activates it only if all pass, or with
    `override_reason` (recorded with who). 409 names the failing cases. The version
    that was active becomes the one a rollback returns to. The sandbox worker runs the
    cases and activates in one transaction; a 202 job ends done (`outcome.deployment`)
    or refused (`error` names the failing cases)."""
    with scope.connection() as conn:
        version_or_404(conn, agent_id, version)
    reason = body.override_reason if body is not None else None
    job = jobs.submit(scope, "activate", agent_id, version, override_reason=reason)
    if not job.finished:
        return still_running(scope.tenant_id, job)
    if job.status == "refused":
        raise HTTPException(status.HTTP_409_CONFLICT, job.error)
    if job.status != "done" or job.outcome is None:
        raise failed_job(job)
    return DeploymentOut.model_validate(job.outcome["deployment"])


@router.post(
    "/{agent_id}/rollback", response_model=DeploymentOut, responses=errors(401, 403, 404, 409)
)
def rollback(scope: AdminScopeDep, agent_id: str, body: ReasonIn | None = None) -> DeploymentOut:
    """The previously active version is active again, at once (no tests are run: it was
    live before). 409 when there is nothing to go back to."""
    with scope.connection() as conn:
        agent_or_404(conn, agent_id)
        try:
            made = agents.rollback(
                conn, agent_id, actor(scope.principal), body.reason if body else ""
            )
        except agents.AgentStateError as exc:
            raise _conflict(exc) from None
    return _deployment(made)


@router.post(
    "/{agent_id}/deactivate", response_model=DeploymentOut, responses=errors(401, 403, 404, 409)
)
def deactivate(scope: AdminScopeDep, agent_id: str, body: ReasonIn | None = None) -> DeploymentOut:
    """The agent handles no ticket any more (another agent, or the default, takes over);
    a rollback re-activates the version it had."""
    with scope.connection() as conn:
        agent_or_404(conn, agent_id)
        try:
            made = agents.deactivate(
                conn, agent_id, actor(scope.principal), body.reason if body else ""
            )
        except agents.AgentStateError as exc:
            raise _conflict(exc) from None
    return _deployment(made)


@router.post(
    "/{agent_id}/versions/{version}/shadow",
    response_model=DeploymentOut,
    responses=errors(401, 403, 404, 409),
)
def shadow_on(scope: AdminScopeDep, agent_id: str, version: int) -> DeploymentOut:
    """Run this version beside the active one on the same live tickets, storing its result
    without posting (compare them under /shadow-comparison). At most 3 per agent."""
    with scope.connection() as conn:
        version_or_404(conn, agent_id, version)
        try:
            made = agents.shadow(conn, agent_id, version, True, actor(scope.principal))
        except agents.AgentStateError as exc:
            raise _conflict(exc) from None
    return _deployment(made)


@router.delete(
    "/{agent_id}/versions/{version}/shadow",
    response_model=DeploymentOut,
    responses=errors(401, 403, 404, 409),
)
def shadow_off(scope: AdminScopeDep, agent_id: str, version: int) -> DeploymentOut:
    with scope.connection() as conn:
        version_or_404(conn, agent_id, version)
        try:
            made = agents.shadow(conn, agent_id, version, False, actor(scope.principal))
        except agents.AgentStateError as exc:
            raise _conflict(exc) from None
    return _deployment(made)


@router.get(
    "/{agent_id}/deployments", response_model=list[DeploymentOut], responses=errors(401, 404)
)
def deployments(
    scope: ReadScopeDep, agent_id: str, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[DeploymentOut]:
    """Every activation, rollback and shadow change, newest first, with who and why."""
    with scope.connection() as conn:
        agent_or_404(conn, agent_id)
        return [_deployment(d) for d in agents.list_deployments(conn, agent_id, limit)]


# Monitor ----------------------------------------------------------------------------------


def _metrics(scope: TenantScope, settings: Settings, agent_id: str, days: int) -> AgentMetricsOut:
    since = datetime.now(UTC) - timedelta(days=days)
    with scope.connection() as conn:
        agent = agent_or_404(conn, agent_id)
        rows = agent_metrics.version_metrics(conn, agent_id, since, root=settings.warehouse_path)
    return AgentMetricsOut(
        agent_id=agent_id,
        since=since,
        source="warehouse",
        versions=[VersionMetrics(state=agent.state_of(r.version), **r.as_dict()) for r in rows],
    )


@router.get("/{agent_id}/metrics", response_model=AgentMetricsOut, responses=errors(401, 404))
def metrics(
    scope: ReadScopeDep,
    settings: SettingsDep,
    agent_id: str,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> AgentMetricsOut:
    """Per version: volume, success rate, p50/p95 ms, tokens, cost and technician
    feedback over the last `days`. Live events come from the analytics warehouse for the
    days it has exported (daily, for yesterday) and from enhancement_history for the days
    after; shadow runs from sandbox_runs, feedback from note_feedback."""
    return _metrics(scope, settings, agent_id, days)


@router.get(
    "/{agent_id}/shadow-comparison",
    response_model=list[ShadowComparison],
    responses=errors(401, 404),
)
def shadow_comparison(
    scope: ReadScopeDep, agent_id: str, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[ShadowComparison]:
    """Live events that shadow versions ran on, newest first: the active version's result
    beside each shadow's."""
    with scope.connection() as conn:
        agent_or_404(conn, agent_id)
        return [
            ShadowComparison.model_validate(row)
            for row in agent_metrics.shadow_comparison(conn, agent_id, limit)
        ]
