"""What routes depend on: the clients the lifespan owns, who is calling, and the one tenant
a request may touch.

Tenant routes never choose their tenant: they take a `TenantScope`, whose tenant comes from
the caller's credential (a tenant key's scope is its own tenant, whatever the path says) and
whose connection is that tenant's row-level-security session.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

import redis
from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aiops.crypto import SecretBox
from aiops.settings import Settings
from aiops.tenant_directory import TENANT_ID
from api.models import ErrorOut, UnprocessableOut
from warehouse import api_keys
from warehouse.db import Database, TenantConnection
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

_bearer = HTTPBearer(
    auto_error=False,
    description="The admin token (`aiops up` prints where), or a tenant API key "
    "`aiok_<tenant>.<key id>.<secret>` (`aiops api-keys create`).",
)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the platform admin (no tenant) or one tenant's API key."""

    tenant_id: str | None
    scope: api_keys.Scope
    key_id: str | None = None

    @property
    def is_platform(self) -> bool:
        return self.tenant_id is None


PLATFORM_ADMIN = Principal(tenant_id=None, scope="admin")


def get_principal(
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    given = credentials.credentials if credentials else ""
    if given and hmac.compare_digest(given.encode(), state.admin_token.encode()):
        return PLATFORM_ADMIN
    key = api_keys.authenticate(state.db, given) if given else None
    if key is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "send the admin token or a live tenant API key as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Principal(tenant_id=key.tenant_id, scope=key.scope, key_id=key.key_id)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_platform_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_platform:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "only the platform admin token may do this; tenant API keys cannot",
        )
    return principal


PlatformAdminDep = Annotated[Principal, Depends(require_platform_admin)]


@dataclass(frozen=True)
class TenantScope:
    """The one tenant a request may touch, and the only way to open its database session."""

    principal: Principal
    summary: TenantSummary
    _db: Database = field(repr=False)

    @property
    def tenant_id(self) -> str:
        return self.summary.tenant_id

    @contextmanager
    def connection(self) -> Iterator[TenantConnection]:
        """One transaction in which PostgreSQL limits rows to this scope's tenant."""
        with self._db.tenant(self.tenant_id) as conn:
            yield conn


# The same answer whether the tenant does not exist or belongs to someone else.
_NO_TENANT = "no such tenant; check the tenant id in the URL"


def get_tenant_scope(
    tenant_id: Annotated[str, Path(pattern=f"^{TENANT_ID.pattern}$")],
    principal: PrincipalDep,
    db: DbDep,
) -> TenantScope:
    own = principal.tenant_id if principal.tenant_id is not None else tenant_id
    summary = tenant_summary(db, own) if own == tenant_id else None
    if summary is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NO_TENANT)
    return TenantScope(principal=principal, summary=summary, _db=db)


ReadScopeDep = Annotated[TenantScope, Depends(get_tenant_scope)]


def get_admin_scope(scope: ReadScopeDep) -> TenantScope:
    if scope.principal.scope != "admin":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "this API key is read-only; use a key with admin scope for changes",
        )
    return scope


AdminScopeDep = Annotated[TenantScope, Depends(get_admin_scope)]


_ERRORS = {
    400: "The request was understood but cannot be carried out (see detail).",
    401: "No credential, or not a valid one (unknown, wrong secret, revoked).",
    403: "A valid credential without the right: a read-only key on a change, or a tenant "
    "key on a platform route.",
    404: "No such tenant, or one this credential may not see (the same answer), or no "
    "such object within it.",
    409: "It exists already, or conflicts with the current state (see detail).",
    422: "The request is malformed, or a value is refused (see detail).",
    502: "An outside service (such as the LLM provider) could not be reached; nothing was changed.",
    503: "PostgreSQL or Redis is unreachable; try again shortly.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error answers a route can give."""
    return {
        code: {"model": UnprocessableOut if code == 422 else ErrorOut, "description": _ERRORS[code]}
        for code in codes
    }
