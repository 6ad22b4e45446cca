"""Tenants: register one (platform admin), list them, read one. Secrets go in, never out."""

from __future__ import annotations

import redis
from fastapi import APIRouter, HTTPException, status
from pydantic import SecretStr

from api.deps import (
    AdminScopeDep,
    BoxDep,
    DbDep,
    PlatformAdminDep,
    PrincipalDep,
    ReadScopeDep,
    RedisDep,
    SettingsDep,
    errors,
)
from api.itsm_connection import check_before_saving, refuse_internal_address, settings_of
from api.models import TenantCreate, TenantId, TenantOut, TenantRemoved, TenantUpdate
from itsm import registry
from warehouse import tenant_removal, tenants
from warehouse.db import NoOperatorError
from warehouse.itsm_connection import replace_itsm_connection

router = APIRouter(prefix="/tenants", tags=["tenants"])


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TenantOut,
    responses=errors(401, 403, 409, 422, 502, 503),
)
def create_tenant(
    _admin: PlatformAdminDep,
    body: TenantCreate,
    settings: SettingsDep,
    db: DbDep,
    client: RedisDep,
    box: BoxDep,
) -> TenantOut:
    """Registers a tenant and publishes its webhook secret to ingest. The ITSM credentials
    are tried first (unless check_itsm_credentials is false): refused, nothing is saved."""
    plugin = registry.plugin(body.itsm_source)
    itsm = settings_of(plugin, body)
    if body.check_itsm_credentials:
        check_before_saving(
            plugin, itsm, timeout_seconds=settings.itsm_timeout_seconds, public_only=False
        )
    config = tenants.TenantConfig(
        tenant_id=body.tenant_id,
        display_name=body.display_name,
        itsm_source=body.itsm_source,
        itsm_base_url=itsm.base_url,
        itsm_flavor=itsm.flavor,
        itsm_api_key=itsm.api_key,
        itsm_username=itsm.username,
        itsm_options=itsm.options,
        itsm_secrets=itsm.secrets,
        webhook_secrets=(body.webhook_secret.get_secret_value(),),
        llm_model=body.llm_model,
        llm_fallbacks=tuple(body.llm_fallbacks),
        llm_api_base=body.llm_api_base,
        llm_api_key=_secret(body.llm_api_key),
        monitoring_url=body.monitoring_url,
        mask_personal_data=body.mask_personal_data,
    )
    try:
        tenants.register_tenant(db, box, client, settings.stream_prefix, config)
    except tenants.TenantExistsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except NoOperatorError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    except redis.RedisError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "Redis is unreachable; try again shortly"
        ) from exc
    summary = tenants.tenant_summary(db, body.tenant_id)
    assert summary is not None
    return TenantOut.of(summary, settings.webhook_urls(summary.itsm_source, summary.tenant_id))


@router.get("", response_model=list[TenantOut], responses=errors(401))
def list_tenants(principal: PrincipalDep, settings: SettingsDep, db: DbDep) -> list[TenantOut]:
    """Every tenant for the admin token; a tenant API key sees only its own tenant."""
    if principal.tenant_id is None:
        found = tenants.list_tenants(db)
    else:
        own = tenants.tenant_summary(db, principal.tenant_id)
        found = [own] if own is not None else []
    return [TenantOut.of(s, settings.webhook_urls(s.itsm_source, s.tenant_id)) for s in found]


@router.get("/{tenant_id}", response_model=TenantOut, responses=errors(401, 404))
def get_tenant(scope: ReadScopeDep, settings: SettingsDep) -> TenantOut:
    tenant = scope.summary
    return TenantOut.of(tenant, settings.webhook_urls(tenant.itsm_source, tenant.tenant_id))


@router.patch("/{tenant_id}", response_model=TenantOut, responses=errors(401, 403, 404, 422, 502))
def update_tenant(
    scope: AdminScopeDep, body: TenantUpdate, settings: SettingsDep, box: BoxDep
) -> TenantOut:
    """Renames the tenant, switches personal-data masking, or replaces its ITSM connection
    (any itsm_* field; credentials tried first, as on create); the flow follows within
    AI_AGENTS_TENANT_CACHE_SECONDS."""
    itsm = None
    if body.itsm_given():
        plugin = registry.plugin(scope.summary.itsm_source)
        itsm = settings_of(plugin, body)
        if not scope.principal.is_platform:
            # Checked whether or not the credentials are tried: the flow calls this address.
            refuse_internal_address(itsm)
        if body.check_itsm_credentials:
            check_before_saving(
                plugin,
                itsm,
                timeout_seconds=settings.itsm_timeout_seconds,
                public_only=not scope.principal.is_platform,
            )
    with scope.connection() as conn:
        tenants.update_profile(
            conn, display_name=body.display_name, mask_personal_data=body.mask_personal_data
        )
        if itsm is not None:
            replace_itsm_connection(
                conn,
                box,
                base_url=itsm.base_url,
                flavor=itsm.flavor,
                api_key=itsm.api_key,
                username=itsm.username,
                options=itsm.options,
                secrets=itsm.secrets,
                set_by_tenant=not scope.principal.is_platform,
            )
        summary = tenants.read_summary(conn)
    if summary is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such tenant")
    return TenantOut.of(summary, settings.webhook_urls(summary.itsm_source, summary.tenant_id))


@router.delete("/{tenant_id}", response_model=TenantRemoved, responses=errors(401, 403, 404, 503))
def delete_tenant(
    tenant_id: TenantId,
    _admin: PlatformAdminDep,
    settings: SettingsDep,
    db: DbDep,
    client: RedisDep,
) -> TenantRemoved:
    """Removes the tenant and every row it owns, in batches (platform admin token only).

    Audited in the database (tenancy.tenant_audit: who, when, how many rows of each
    table); ingest refuses the tenant's webhooks from the start of the removal.
    """
    try:
        removal = tenant_removal.remove_tenant(
            db, client, settings.stream_prefix, tenant_id, actor="api:platform-admin"
        )
    except tenant_removal.UnknownTenantError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such tenant") from exc
    except NoOperatorError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    except redis.RedisError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "Redis is unreachable; try again shortly"
        ) from exc
    return TenantRemoved(
        tenant_id=removal.tenant_id, audit_id=removal.audit_id, removed=removal.removed
    )
