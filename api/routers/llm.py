"""A tenant's LLM: its own model, fallbacks, endpoint and key (bring your own key).

A key is tried against the provider with a one-token completion before anything is
saved, so a mistyped key is refused here rather than showing up later as failed notes:
the primary's key with the primary model, each fallback provider's key with its model.
The flow picks a change up within AI_AGENTS_TENANT_CACHE_SECONDS.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from aiops.endpoints import EndpointRefusedError, check_public_endpoint
from aiops.llm import (
    OPENAI_COMPATIBLE,
    KeyRefused,
    LlmTarget,
    ProbeError,
    ProviderUnavailable,
    probe,
)
from api.deps import AdminScopeDep, BoxDep, ReadScopeDep, SettingsDep, TenantScope, errors
from api.models import FallbackIn, LlmConfigIn, LlmConfigOut
from warehouse import tenants
from warehouse.db import TenantConnection

router = APIRouter(prefix="/tenants/{tenant_id}/llm", tags=["llm"])


def _saved(conn: TenantConnection) -> LlmConfigOut:
    summary = tenants.read_summary(conn)
    if summary is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such tenant")
    return LlmConfigOut.of(summary)


def _check_key(
    scope: TenantScope,
    model: str,
    api_base: str | None,
    api_key: str,
    timeout_seconds: float,
    what: str = "",
) -> None:
    try:
        probe(
            model,
            api_base,
            api_key,
            timeout_seconds,
            public_only=not scope.principal.is_platform,
        )
    except KeyRefused as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{what}{exc}: nothing was saved; check the key (and api_base) and send it again",
        ) from None
    except ProviderUnavailable as exc:
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY,
            f"{what}{exc}: the key could not be checked, so nothing was saved; try again shortly",
        ) from None
    except ProbeError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{what}{exc}: nothing was saved; check the model name and api_base",
        ) from None


def _check_endpoint(scope: TenantScope, model: str, api_base: str | None, what: str) -> None:
    if api_base is None or scope.principal.is_platform:
        return
    if not model.startswith(OPENAI_COMPATIBLE):
        # Only those connections check the address they reach as they connect (DNS
        # rebinding); litellm's other providers open connections of their own.
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{what}a tenant key may set api_base only for OpenAI-compatible endpoints "
            f"(model '{OPENAI_COMPATIBLE}<name>', e.g. Azure OpenAI's /openai/v1 or an LLM "
            "proxy); other providers are reached at their own addresses (leave api_base out), "
            "or the platform operator sets the endpoint with the admin token",
        )
    try:
        check_public_endpoint(api_base)
    except EndpointRefusedError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{what}api_base refused: {exc}; a tenant key may only point at a public endpoint "
            "(the platform operator can set others with the admin token)",
        ) from None


def _fallbacks(
    scope: TenantScope,
    body: LlmConfigIn,
    stored: tenants.TenantConfig | None,
    timeout_seconds: float,
) -> list[str | LlmTarget]:
    """The fallbacks to save, each provider's key (given or kept) tested with its model."""
    kept = {
        (f.model, f.api_base): f.api_key
        for f in (stored.llm_fallbacks if stored else ())
        if isinstance(f, LlmTarget) and f.api_key
    }
    chain: list[str | LlmTarget] = []
    for n, fallback in enumerate(body.fallbacks, start=1):
        if not isinstance(fallback, FallbackIn):
            chain.append(fallback)
            continue
        what = f"fallback {n} ({fallback.model}): "
        key = (
            fallback.api_key.get_secret_value()
            if fallback.api_key is not None
            else kept.get((fallback.model, fallback.api_base))
        )
        if key is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"{what}a fallback provider needs its api_key (a plain model name instead "
                "shares the primary's endpoint and key)",
            )
        _check_endpoint(scope, fallback.model, fallback.api_base, what)
        _check_key(scope, fallback.model, fallback.api_base, key, timeout_seconds, what)
        chain.append(LlmTarget(fallback.model, fallback.api_base, key))
    return chain


@router.get("", response_model=LlmConfigOut, responses=errors(401, 404))
def get_llm(scope: ReadScopeDep) -> LlmConfigOut:
    """The tenant's model settings; whether it has its own key, never the key."""
    return LlmConfigOut.of(scope.summary)


@router.put("", response_model=LlmConfigOut, responses=errors(401, 403, 404, 422, 502))
def put_llm(
    scope: AdminScopeDep, body: LlmConfigIn, settings: SettingsDep, box: BoxDep
) -> LlmConfigOut:
    """Sets the tenant's model, fallbacks, endpoint and key, once the providers accept the keys.

    The key (given, or the stored one when `api_key` is omitted) is tested with the first
    model, and each fallback provider's key with its own model: 422 if a provider refuses
    a key, 502 if one cannot be reached; either way nothing is saved. Without a key of its
    own the tenant uses the installation's endpoint and key, and that is not tested.
    """
    chosen: str | tenants.Keep | None
    with scope.connection() as conn:
        stored = tenants.read_config(conn, box)
    if body.clear_api_key:
        chosen = key = None
    elif body.api_key is not None:
        chosen = key = body.api_key.get_secret_value()
    else:
        chosen, key = tenants.KEEP, stored.llm_api_key if stored else None
    if key is None and body.api_base is not None:
        # With no key litellm would send whatever provider key the server's environment
        # holds; the installation's key never goes to an endpoint a tenant chose.
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "api_base needs an api_key (any placeholder if the endpoint takes none)",
        )
    _check_endpoint(scope, body.model, body.api_base, "")
    if key is not None:
        _check_key(scope, body.model, body.api_base, key, settings.llm_timeout_seconds)
    fallbacks = _fallbacks(scope, body, stored, settings.llm_timeout_seconds)
    # The providers were asked outside any transaction: no row is locked while they answer.
    with scope.connection() as conn:
        tenants.update_llm(
            conn,
            box,
            model=body.model,
            fallbacks=fallbacks,
            api_base=body.api_base,
            api_key=chosen,
            set_by_tenant=not scope.principal.is_platform,
        )
        return _saved(conn)


@router.delete("", response_model=LlmConfigOut, responses=errors(401, 403, 404))
def reset_llm(scope: AdminScopeDep, box: BoxDep) -> LlmConfigOut:
    """Back to the installation's model, endpoint and key; the tenant's key is deleted."""
    with scope.connection() as conn:
        tenants.update_llm(
            conn, box, model=None, fallbacks=(), api_base=None, api_key=None, set_by_tenant=False
        )
        return _saved(conn)
