"""A tenant's API keys: made (the token shown once), listed without secrets, revoked."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status

from api.deps import AdminScopeDep, errors
from api.models import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from warehouse import api_keys

router = APIRouter(prefix="/tenants/{tenant_id}/api-keys", tags=["api-keys"])

KeyId = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{8,32}$")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=errors(401, 403, 404),
)
def create_key(scope: AdminScopeDep, body: ApiKeyCreate) -> ApiKeyCreated:
    """Makes a key; its token is in this response only, so keep it now."""
    with scope.connection() as conn:
        made = api_keys.create_key(conn, body.name, body.scope)
    return ApiKeyCreated(**dataclasses.asdict(made.key), token=made.token)


@router.get("", response_model=list[ApiKeyOut], responses=errors(401, 403, 404))
def list_keys(scope: AdminScopeDep) -> list[ApiKeyOut]:
    """Oldest first, revoked keys included; never a secret."""
    with scope.connection() as conn:
        keys = api_keys.list_keys(conn)
    return [ApiKeyOut(**dataclasses.asdict(key)) for key in keys]


@router.delete("/{key_id}", response_model=ApiKeyOut, responses=errors(401, 403, 404))
def revoke_key(scope: AdminScopeDep, key_id: KeyId) -> ApiKeyOut:
    """Revokes the key at once; revoking it again changes nothing."""
    with scope.connection() as conn:
        key = api_keys.revoke_key(conn, key_id)
    if key is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no API key {key_id!r} for this tenant")
    return ApiKeyOut(**dataclasses.asdict(key))
