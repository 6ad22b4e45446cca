"""What routes depend on: the clients the lifespan owns, the admin check, the tenant."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

import redis
from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aiops.crypto import SecretBox
from aiops.settings import Settings
from warehouse.db import Database
from warehouse.tenants import TenantSummary, tenant_summary


@dataclass(frozen=True)
class ApiState:
    settings: Settings
    db: Database
    redis: redis.Redis
    box: SecretBox
    admin_token: str


def get_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


StateDep = Annotated[ApiState, Depends(get_state)]


def get_settings(state: StateDep) -> Settings:
    return state.settings


def get_db(state: StateDep) -> Database:
    return state.db


def get_redis(state: StateDep) -> redis.Redis:
    return state.redis


def get_box(state: StateDep) -> SecretBox:
    return state.box


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]
RedisDep = Annotated[redis.Redis, Depends(get_redis)]
BoxDep = Annotated[SecretBox, Depends(get_box)]

_bearer = HTTPBearer(auto_error=False, description="The admin token (`aiops up` prints where).")


def require_admin(
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    given = credentials.credentials.encode() if credentials else b""
    if not hmac.compare_digest(given, state.admin_token.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "send the admin token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


def get_tenant(tenant_id: Annotated[str, Path()], db: DbDep) -> TenantSummary:
    summary = tenant_summary(db, tenant_id)
    if summary is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no tenant {tenant_id!r}")
    return summary


TenantDep = Annotated[TenantSummary, Depends(get_tenant)]
