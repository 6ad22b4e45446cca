"""A tenant's ITSM connection as the API takes it: the body's itsm_* fields checked against
what the plugin declares, then the credentials tried against the ITSM before anything is
saved (as BYOK LLM keys are). Errors name the API's fields and never carry a secret."""

from __future__ import annotations

import httpx
from fastapi import HTTPException, status

from aiops.endpoints import EndpointRefusedError, check_public_endpoint, public_only_transport
from api.models import ItsmConnectionIn
from itsm.base import ConnectionField, ItsmPlugin
from itsm.connection_settings import ConnectionSettings, SettingsError, resolve
from itsm.credentials import CredentialsRefused, ItsmUnreachable, check_credentials

_NAMED = {
    "base_url": "itsm_base_url",
    "api_key": "itsm_api_key",
    "username": "itsm_username",
    "flavor": "itsm_flavor",
}


def api_name(spec: ConnectionField) -> str:
    if spec.target == "option":
        return f"itsm_options.{spec.name}"
    if spec.target == "secret":
        return f"itsm_secrets.{spec.name}"
    return _NAMED[spec.target]


def _unprocessable(message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message)


def settings_of(plugin: ItsmPlugin, body: ItsmConnectionIn) -> ConnectionSettings:
    """The body's ITSM fields sorted by the plugin's declaration; 422 when they do not fit."""
    by_target = {
        "base_url": body.itsm_base_url,
        "api_key": body.itsm_api_key.get_secret_value() if body.itsm_api_key else None,
        "username": body.itsm_username,
        "flavor": body.itsm_flavor,
    }
    given: dict[str, str | None] = {}
    declared = {spec.target for spec in plugin.connection_fields}
    for target, value in by_target.items():
        if value and target not in declared:
            raise _unprocessable(f"{plugin.title} takes no {_NAMED[target]}")
    options = {s.name for s in plugin.connection_fields if s.target == "option"}
    secrets = {s.name for s in plugin.connection_fields if s.target == "secret"}
    for name in set(body.itsm_options) - options:
        raise _unprocessable(
            f"{plugin.title} has no option {name!r}; its options: {', '.join(sorted(options))}"
        )
    for name in set(body.itsm_secrets) - secrets:
        raise _unprocessable(
            f"{plugin.title} has no secret {name!r}; its secrets: {', '.join(sorted(secrets))}"
        )
    for spec in plugin.connection_fields:
        if spec.target == "option":
            given[spec.name] = body.itsm_options.get(spec.name)
        elif spec.target == "secret":
            secret = body.itsm_secrets.get(spec.name)
            given[spec.name] = secret.get_secret_value() if secret is not None else None
        else:
            given[spec.name] = by_target[spec.target]
    try:
        return resolve(plugin, given, name_of=api_name)
    except SettingsError as exc:
        raise _unprocessable(str(exc)) from None


def refuse_internal_address(settings: ConnectionSettings) -> None:
    """422 unless the ITSM address resolves to public addresses only (a tenant key's choice)."""
    if settings.base_url is None:
        return
    try:
        check_public_endpoint(settings.base_url)
    except EndpointRefusedError as exc:
        raise _unprocessable(
            f"itsm_base_url refused: {exc}; a tenant key may only point at a public "
            "address (the platform operator can set others with the admin token)"
        ) from None


def check_before_saving(
    plugin: ItsmPlugin,
    settings: ConnectionSettings,
    *,
    timeout_seconds: float,
    public_only: bool,
) -> None:
    """Tries the credentials unless there are none; `public_only` (a tenant's own key, not
    the platform admin) refuses a base URL that reaches inside the installation."""
    connection = settings.connection(timeout_seconds)
    if connection is None:
        return
    if public_only:
        refuse_internal_address(settings)
    # A tenant's own choice is reached at public addresses only, checked again as it
    # connects (a name that resolved to a public address once may not the second time).
    transport = public_only_transport() if public_only else None
    with httpx.Client(transport=transport) as http:
        try:
            check_credentials(plugin, connection, http)
        except CredentialsRefused as exc:
            raise _unprocessable(
                f"{exc}: nothing was saved; check the credentials and send them again"
            ) from None
        except ItsmUnreachable as exc:
            raise HTTPException(
                status.HTTP_502_BAD_GATEWAY,
                f"{exc}: the credentials could not be checked, so nothing was saved; try again "
                "shortly, or send check_itsm_credentials: false to save them unchecked",
            ) from None
