"""Who signed a webhook: the tenant's scheme, its secrets, and what identifies the delivery."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import NamedTuple, NoReturn

from aiops.tenant_directory import TenantEntry
from ingest.rejection import Rejection
from itsm import standard_webhooks
from itsm.base import ItsmPlugin

# Unknown tenant and bad signature must look the same, in body and in time: an unknown
# tenant's body is checked against this secret, which no tenant has, and then refused. It
# is a valid Standard Webhooks secret, so either scheme does its full work on it.
_DECOY_SECRETS = ("whsec_YWlvcHMtZGVjb3ktc2VjcmV0LXRoYXQtbm8tdGVuYW50LWhhcw==",)
_MAX_EVENT_ID = 200  # Event.event_id's limit


class Authenticated(NamedTuple):
    delivery_id: str | None  # the sender's id for this delivery, if usable as the event id
    signed_digest: str  # sha256 of what the signature covers: the same bytes are a replay


def unauthorized() -> Rejection:
    return Rejection(401, "unauthorized", "unknown tenant or invalid signature")


def _standard(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    now: float,
    tolerance_seconds: int,
) -> Authenticated:
    try:
        verified = standard_webhooks.verify(
            headers, body, secrets, now=now, tolerance_seconds=tolerance_seconds
        )
    except standard_webhooks.InvalidSignature as exc:
        raise unauthorized() from exc
    except standard_webhooks.TimestampOutOfTolerance as exc:
        raise Rejection(
            401,
            "stale_timestamp",
            f"the webhook-timestamp is outside the tolerance of ±{tolerance_seconds} s "
            "around this server's time; check the sender's clock (NTP)",
            reason=str(exc),
        ) from exc
    message_id = verified.message_id
    return Authenticated(
        message_id if len(message_id) <= _MAX_EVENT_ID else None,
        hashlib.sha256(verified.signed_content).hexdigest(),
    )


def _native(
    plugin: ItsmPlugin, headers: Mapping[str, str], body: bytes, secrets: Sequence[str]
) -> Authenticated:
    if not plugin.verify(headers, body, secrets):
        raise unauthorized()
    # The plugin's signature covers the body only, so the body is what a replay repeats.
    return Authenticated(plugin.delivery_id(headers), hashlib.sha256(body).hexdigest())


def refuse_unknown(
    plugin: ItsmPlugin,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance_seconds: int,
) -> NoReturn:
    """The 401 for a tenant we do not know, after the same work as for one we do."""
    if standard_webhooks.SIGNATURE_HEADER in headers:
        _standard(headers, body, _DECOY_SECRETS, now, tolerance_seconds)
    else:
        _native(plugin, headers, body, _DECOY_SECRETS)
    raise unauthorized()


def authenticate(
    plugin: ItsmPlugin,
    entry: TenantEntry,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance_seconds: int,
) -> Authenticated:
    """Raises Rejection (401). Headers are lower-cased. A 'standard' tenant is checked only
    against Standard Webhooks headers, a 'native' one only against the plugin's own."""
    if entry.webhook_scheme == "standard":
        return _standard(headers, body, entry.webhook_secrets, now, tolerance_seconds)
    return _native(plugin, headers, body, entry.webhook_secrets)
