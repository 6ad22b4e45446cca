"""What the agent routes share: the sandbox runner the lifespan owns, and who is acting."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.deps import Principal
from flows.agent_sandbox import Sandbox

PLATFORM_ACTOR = "platform-admin"


def actor(principal: Principal) -> str:
    """Who did it, as deployments and versions record it."""
    return PLATFORM_ACTOR if principal.is_platform else f"key:{principal.key_id}"


def get_sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]
