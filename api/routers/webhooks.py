"""A tenant's webhook signing: secret rotation, scheme and rate limit. Secrets never come out.

Every change is stored encrypted and republished to the Redis tenant directory; ingest
caches that directory for `tenant_cache_seconds`, so a change applies within that time.
"""

from __future__ import annotations

import redis
from fastapi import APIRouter, HTTPException, status

from aiops.crypto import SecretBox
from aiops.settings import Settings
from api.deps import AdminScopeDep, BoxDep, ReadScopeDep, RedisDep, SettingsDep, errors
from api.models import WebhookOptionsUpdate, WebhookSecretAdd, WebhookSettingsOut
from itsm.standard_webhooks import signing_key
from warehouse import tenants

router = APIRouter(prefix="/tenants/{tenant_id}", tags=["webhooks"])

_UNREACHABLE = "Redis is unreachable, so ingest cannot be told; nothing was changed, try again"
_STANDARD_SECRET = (
    "a Standard Webhooks secret is 'whsec_' followed by base64, e.g. "
    "whsec_$(openssl rand -base64 32)"
)


def _out(config: tenants.TenantConfig, settings: Settings) -> WebhookSettingsOut:
    return WebhookSettingsOut(
        tenant_id=config.tenant_id,
        webhook_scheme=config.webhook_scheme,
        webhook_rate_per_minute=config.webhook_rate_per_minute,
        effective_rate_per_minute=config.webhook_rate_per_minute
        or settings.webhook_rate_per_minute,
        signing_secrets=len(config.webhook_secrets),
        takes_effect_within_seconds=settings.tenant_cache_seconds,
    )


def _check_reachable(client: redis.Redis) -> None:
    # Asked before anything is written, so an unreachable Redis leaves nothing half done.
    try:
        client.ping()
    except redis.RedisError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, _UNREACHABLE) from exc


def _publish(
    config: tenants.TenantConfig | None, settings: Settings, client: redis.Redis, box: SecretBox
) -> WebhookSettingsOut:
    if config is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such tenant")
    try:
        tenants.publish_tenant(client, settings.stream_prefix, box, config)
    except redis.RedisError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the change is stored, but Redis went away before ingest was told; ingest "
            "learns it when `aiops up` next starts (it republishes every tenant)",
        ) from exc
    return _out(config, settings)


@router.get("/webhook", response_model=WebhookSettingsOut, responses=errors(401, 404))
def get_webhook_settings(
    scope: ReadScopeDep, settings: SettingsDep, box: BoxDep
) -> WebhookSettingsOut:
    with scope.connection() as conn:
        config = tenants.read_config(conn, box)
    if config is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such tenant")
    return _out(config, settings)


@router.post(
    "/webhook-secrets",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookSettingsOut,
    responses=errors(401, 403, 404, 409, 422, 503),
)
def add_webhook_secret(
    scope: AdminScopeDep,
    body: WebhookSecretAdd,
    settings: SettingsDep,
    client: RedisDep,
    box: BoxDep,
) -> WebhookSettingsOut:
    """Starts a rotation: the new secret verifies beside the current one until the
    previous one is dropped. Configure the ITSM with it in between."""
    secret = body.secret.get_secret_value()
    if scope.summary.webhook_scheme == "standard" and signing_key(secret) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, _STANDARD_SECRET)
    _check_reachable(client)
    try:
        with scope.connection() as conn:
            config = tenants.add_webhook_secret(conn, box, secret)
    except tenants.RotationInProgressError as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "two signing secrets are current already: finish the rotation first "
            f"(DELETE /tenants/{scope.tenant_id}/webhook-secrets/previous once the ITSM "
            "signs with the newer one)",
        ) from exc
    return _publish(config, settings, client, box)


@router.delete(
    "/webhook-secrets/previous",
    response_model=WebhookSettingsOut,
    responses=errors(401, 403, 404, 409, 503),
)
def finish_webhook_rotation(
    scope: AdminScopeDep, settings: SettingsDep, client: RedisDep, box: BoxDep
) -> WebhookSettingsOut:
    """Finishes a rotation: only the newest secret verifies from now on."""
    _check_reachable(client)
    try:
        with scope.connection() as conn:
            config = tenants.drop_previous_webhook_secret(conn, box)
    except tenants.NoRotationError as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "no rotation in progress: only one signing secret is current "
            f"(POST /tenants/{scope.tenant_id}/webhook-secrets starts one)",
        ) from exc
    return _publish(config, settings, client, box)


@router.patch(
    "/webhook", response_model=WebhookSettingsOut, responses=errors(401, 403, 404, 409, 503)
)
def update_webhook_options(
    scope: AdminScopeDep,
    body: WebhookOptionsUpdate,
    settings: SettingsDep,
    client: RedisDep,
    box: BoxDep,
) -> WebhookSettingsOut:
    """Sets the signing scheme and the rate limit; omitted fields keep their value."""
    with scope.connection() as conn:
        current = tenants.read_config(conn, box)
    if current is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such tenant")
    scheme = body.webhook_scheme or current.webhook_scheme
    rate = (
        body.webhook_rate_per_minute
        if "webhook_rate_per_minute" in body.model_fields_set
        else current.webhook_rate_per_minute
    )
    if scheme == "standard" and not any(signing_key(s) for s in current.webhook_secrets):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "no current secret can sign Standard Webhooks: add one first with "
            f"POST /tenants/{scope.tenant_id}/webhook-secrets ({_STANDARD_SECRET})",
        )
    _check_reachable(client)
    with scope.connection() as conn:
        config = tenants.set_webhook_options(conn, box, scheme=scheme, rate_per_minute=rate)
    return _publish(config, settings, client, box)
