"""What the agent routes share: the sandbox runner the lifespan owns, who is acting, and
the 404s of an unknown agent or version."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from api.deps import Principal
from flows.agent_sandbox import Sandbox
from warehouse import agents
from warehouse.db import TenantConnection

PLATFORM_ACTOR = "platform-admin"


def actor(principal: Principal) -> str:
    """Who did it, as deployments and versions record it."""
    return PLATFORM_ACTOR if principal.is_platform else f"key:{principal.key_id}"


def get_sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]


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
