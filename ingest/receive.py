"""The steps of one webhook, cheapest refusal first; nothing here touches PostgreSQL or an LLM."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from opentelemetry.trace import Span
from redis.exceptions import RedisError
from starlette.types import Receive, Scope

from aiops.crypto import DecryptionError
from aiops.events import Event, EventKind, derive_event_id, utcnow
from aiops.logs import bind_log_context
from aiops.ticket_masking import mask_ticket
from aiops.tracing import EVENT_ID, current_traceparent
from ingest.authenticate import authenticate, refuse_unknown
from ingest.body import is_json_media_type, parse_json, read_capped
from ingest.context import IngestContext
from ingest.enqueue import Enqueued, RateLimited
from ingest.rejection import Rejection
from itsm.base import ItsmPlugin, NormalizationError, fetches_tickets

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class Received(NamedTuple):
    event: Event
    enqueued: Enqueued


def unavailable(exc: Exception, event_id: str | None = None) -> Rejection:
    return Rejection(
        503,
        "unavailable",
        "the event queue is unavailable; nothing was stored, retry later",
        retry_after=RETRY_AFTER_SECONDS,
        reason=f"redis: {type(exc).__name__}",
        event_id=event_id,
    )


def rate_limited(rate: int, retry_after: int, event_id: str) -> Rejection:
    return Rejection(
        429,
        "rate_limited",
        f"this tenant may send {rate} webhooks a minute and is over that; nothing was "
        f"stored, retry after {retry_after} s",
        retry_after=retry_after,
        event_id=event_id,
    )


def refuse_repeated_tenant(queried: Sequence[str], scope: Scope) -> None:
    """`?tenant=a&tenant=b` (or two X-Tenant-Id headers) is refused: a proxy in front may
    act on the first while we would read the last. `queried` are the query's tenants."""
    # ASGI servers give header names in lower case.
    named = sum(1 for name, _ in scope["headers"] if name == b"x-tenant-id")
    if len(queried) > 1 or named > 1:
        raise Rejection(
            400, "no_tenant", "name the tenant once: one ?tenant= parameter or X-Tenant-Id header"
        )


def choose_tenant(query: str | None, header: str | None) -> str:
    if query and header and query != header:
        raise Rejection(
            400, "no_tenant", "the tenant query parameter and X-Tenant-Id header disagree"
        )
    tenant_id = query or header
    if not tenant_id:
        raise Rejection(
            400,
            "no_tenant",
            "say which tenant this webhook is for: add ?tenant=<tenant id> to the URL "
            "or send the header X-Tenant-Id: <tenant id>",
        )
    return tenant_id


def unreadable_tenant(exc: RedisError | DecryptionError) -> Rejection:
    """Why the tenant directory could not say who the tenant is."""
    if isinstance(exc, RedisError):
        return unavailable(exc)
    return Rejection(
        503,
        "misconfigured",
        "this tenant's webhook configuration cannot be read; retry later",
        retry_after=RETRY_AFTER_SECONDS,
        reason="webhook secrets do not decrypt with this process's master keys "
        "(AI_AGENTS_ENCRYPTION_KEY, AI_AGENTS_PREVIOUS_ENCRYPTION_KEYS)",
    )


def _to_event(
    plugin: ItsmPlugin,
    payload: object,
    kind: EventKind | None,
    tenant_id: str,
    event_id: str | None,
) -> Event:
    """The event as the stream may hold it: its ticket's credentials are masked before the
    event is built, which spares copying the event (mask_credentials) afterwards."""
    try:
        kind, ticket = plugin.normalize(payload, kind)
    except NormalizationError as exc:
        details = [{"loc": ["body", *e.loc], "msg": e.msg} for e in exc.errors]
        raise Rejection(422, "invalid", details) from exc
    return Event(
        event_id=plugin.delivery_id_in_body(payload)
        or event_id
        or derive_event_id(tenant_id, ticket, kind),
        tenant_id=tenant_id,
        source=plugin.name,
        kind=kind,
        ticket=mask_ticket(ticket),
        received_at=utcnow(),
        fetch=fetches_tickets(plugin),
    )


def lowercase_headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (the last of repeated ones), built once:
    Starlette's Headers scans the whole list on every lookup."""
    return {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
    }


async def receive(
    context: IngestContext,
    plugin: ItsmPlugin,
    kind: EventKind | None,
    body_stream: Receive,
    headers: Mapping[str, str],
    tenant_id: str,
    span: Span,
) -> Received:
    """The accepted event, once Redis holds it; raises Rejection otherwise. `body_stream`
    is the request's ASGI receive, `headers` its headers by lower-case name, `span` the
    webhook's (the invalid span when nothing is traced)."""
    if not is_json_media_type(headers.get("content-type")):
        raise Rejection(415, "unsupported_media_type", "send the webhook body as application/json")
    bind_log_context(tenant_id=tenant_id)
    settings = context.settings
    body = await read_capped(body_stream, headers.get("content-length"), settings.max_webhook_bytes)
    try:
        entry = await context.tenants.lookup(tenant_id)
    except (RedisError, DecryptionError) as exc:
        raise unreadable_tenant(exc) from exc
    now = time.time()
    tolerance = settings.webhook_timestamp_tolerance_seconds
    if entry is None or entry.source != plugin.name:
        refuse_unknown(plugin, headers, body, now=now, tolerance_seconds=tolerance)
    signed = authenticate(plugin, entry, headers, body, now=now, tolerance_seconds=tolerance)
    payload = parse_json(body)
    event = _to_event(plugin, payload, kind, tenant_id, signed.delivery_id)
    bind_log_context(event_id=event.event_id)
    rate = entry.rate_per_minute or settings.webhook_rate_per_minute
    span.set_attribute(EVENT_ID, event.event_id)
    # The invalid span has no trace to continue: current_traceparent() would say None.
    traceparent = current_traceparent() if span.get_span_context().is_valid else None
    started = time.perf_counter()
    try:
        enqueued = await context.queue.put(
            event,
            signed_digest=signed.signed_digest,
            rate_per_minute=rate,
            traceparent=traceparent,
        )
    except RateLimited as exc:
        raise rate_limited(rate, exc.retry_after, event.event_id) from exc
    except RedisError as exc:
        raise unavailable(exc, event.event_id) from exc
    context.metrics.enqueue_seconds.observe(time.perf_counter() - started)
    return Received(event, enqueued)
