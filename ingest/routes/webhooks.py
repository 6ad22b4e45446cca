"""Webhook endpoints of the ITSM plugins; each answer is counted and logged exactly once.

The webhook paths are served by plain ASGI endpoints that the app calls before FastAPI
(ingest.app.IngestApp): FastAPI's telemetry check, middleware, routing and dependency
solving cost several times the webhook's own work (measured: an empty FastAPI POST route
answers ~3k req/s on a core where the same uvicorn serves ~12k). FastAPI still serves
everything else and describes the webhook paths in its OpenAPI document (`described`),
from the same answer models.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple
from urllib.parse import parse_qsl

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, Field
from starlette.types import Receive, Scope, Send

from aiops.events import EventKind
from aiops.tenant_directory import is_tenant_id
from aiops.tracing import TENANT_ID, current_span
from ingest.context import IngestContext
from ingest.receive import choose_tenant, lowercase_headers, receive, refuse_repeated_tenant
from ingest.rejection import Rejection
from ingest.reply import render, render_accepted, send_json
from itsm.base import IgnoredEvent, ItsmPlugin
from itsm.url_token import with_url_token

log = logging.getLogger(__name__)

RESOLVED_PATH = "/resolved-ticket"

TenantQuery = Annotated[
    str | None, Query(alias="tenant", description="The tenant id (or send X-Tenant-Id).")
]
TenantHeader = Annotated[
    str | None, Header(alias="X-Tenant-Id", description="The tenant id (or use ?tenant=).")
]


class Accepted(BaseModel):
    event_id: str
    duplicate: bool = Field(
        description="True when this delivery was already accepted (a retry, or a replay of "
        "the same signed body): nothing new was stored, and the sender may stop retrying."
    )


class Ignored(BaseModel):
    ignored: bool = Field(
        True,
        description="True: the delivery is signed and well-formed but is not an event to "
        "act on (a comment, our own note, an update that resolves nothing); nothing was stored.",
    )
    reason: str


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    detail: str | list[FieldProblem]


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
_ANSWERS: dict[int | str, dict[str, Any]] = {
    202: {
        "model": Accepted | Ignored,
        "description": "Stored for enhancement (or already stored), or ignored: not an "
        "event to act on.",
    },
    400: {"model": Problem, "description": "No tenant named, or the body is not UTF-8 JSON."},
    401: {
        "model": Problem,
        "description": "Unknown tenant or invalid signature (indistinguishable), or a "
        "Standard Webhooks timestamp outside the tolerance.",
    },
    413: {"model": Problem, "description": "The body is larger than the limit."},
    415: {"model": Problem, "description": "The body is not declared as JSON."},
    422: {"model": Problem, "description": "Not a ticket this ITSM plugin understands."},
    429: {"model": Problem, "description": "Over the tenant's rate.", "headers": _RETRY_AFTER},
    503: {"model": Problem, "description": "Nothing was stored.", "headers": _RETRY_AFTER},
}


def _signed_request(plugin: ItsmPlugin) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": "The ITSM's JSON body, signed as the tenant's webhook scheme says.",
            "content": {"application/json": {"schema": plugin.webhook_schema}},
        },
    }


def _loggable(tenant_id: str | None) -> str:
    # The id is the sender's text until it passes the tenant id rule.
    return tenant_id if tenant_id is not None and is_tenant_id(tenant_id) else "-"


class Reply(NamedTuple):
    """What a webhook is answered: the status, the JSON body and any extra headers."""

    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()


def _refusal(
    context: IngestContext, plugin: ItsmPlugin, tenant_id: str | None, rejection: Rejection
) -> Reply:
    context.metrics.count_webhook(plugin.name, rejection.outcome)
    log.warning(
        "webhook source=%s tenant=%s outcome=%s status=%d event_id=%s%s",
        plugin.name,
        _loggable(tenant_id),
        rejection.outcome,
        rejection.status,
        rejection.event_id or "-",
        f" reason={rejection.reason}" if rejection.reason else "",
    )
    headers = ((b"retry-after", b"%d" % rejection.retry_after),) if rejection.retry_after else ()
    return Reply(rejection.status, render({"detail": rejection.detail}), headers)


def _tenant_parameters(query_string: bytes) -> list[str]:
    """Every `tenant` in the query, as Starlette's query_params.getlist would read them."""
    if b"tenant" not in query_string:
        return []
    query = query_string.decode("latin-1")
    if "%" in query or "+" in query:
        fields = parse_qsl(query, keep_blank_values=True)
    elif "&" not in query and query.startswith("tenant="):
        return [query[7:]]  # ?tenant=<id> alone: most webhook URLs
    else:
        # What parse_qsl reads from a query with nothing to decode, without its per-field
        # unquoting.
        fields = [field.partition("=")[::2] for field in query.split("&") if field]
    return [v for k, v in fields if k == "tenant"]


async def answer(
    context: IngestContext,
    plugin: ItsmPlugin,
    kind: EventKind | None,
    scope: Scope,
    body_stream: Receive,
) -> Reply:
    """The answer to one webhook delivery: 202 once Redis holds the event, else the refusal."""
    # A URL's ?token= reaches verify() as a header: ConnectWise callbacks can send no other.
    headers = with_url_token(lowercase_headers(scope), scope["query_string"])
    queried = _tenant_parameters(scope["query_string"])
    query = queried[-1] if queried else None  # the last, as query_params.get reads it
    header = headers.get("x-tenant-id")
    tenant_id: str | None = query or header
    try:
        refuse_repeated_tenant(queried, scope)
        tenant_id = choose_tenant(query, header)
        # The event's trace begins here; receive() names the event id on it.
        with current_span(
            "ingest webhook", {TENANT_ID: tenant_id, "itsm.source": plugin.name}
        ) as span:
            try:
                received = await receive(
                    context, plugin, kind, body_stream, headers, tenant_id, span
                )
            except Rejection as rejection:
                span.set_attribute("aiops.outcome", rejection.outcome)
                raise
            span.set_attribute("aiops.outcome", received.enqueued.outcome)
    except Rejection as rejection:
        return _refusal(context, plugin, tenant_id, rejection)
    except IgnoredEvent as ignored:
        # Only after the signature held: normalizing comes after authenticating.
        context.metrics.count_webhook(plugin.name, "ignored")
        log.info(
            "webhook source=%s tenant=%s outcome=ignored status=202 reason=%s",
            plugin.name,
            tenant_id,
            ignored.reason,
        )
        return Reply(202, render({"ignored": True, "reason": ignored.reason}))
    enqueued = received.enqueued
    event = received.event
    context.metrics.count_webhook(plugin.name, enqueued.outcome)
    # A replay is a signed body seen before under another delivery id: someone resent a
    # captured webhook, or the ITSM changed its delivery id on a retry. Worth a look.
    # Accepted and duplicate deliveries are routine: /metrics counts them, and their line
    # (one per webhook, masked like every log line) is DEBUG, as it would otherwise cost
    # more CPU than the rest of the webhook at line rate.
    log.log(
        logging.WARNING if enqueued.outcome == "replay" else logging.DEBUG,
        "webhook source=%s tenant=%s outcome=%s status=202 event_id=%s kind=%s stream=%s%s",
        plugin.name,
        tenant_id,
        enqueued.outcome,
        event.event_id,
        event.kind,
        enqueued.stream,
        f" replay_of={enqueued.original_event_id}" if enqueued.original_event_id else "",
    )
    return Reply(202, render_accepted(event.event_id, enqueued.duplicate))


@dataclass(frozen=True)
class WebhookEndpoint:
    plugin: ItsmPlugin
    kind: EventKind | None  # None: the body says

    async def serve(
        self, context: IngestContext, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """ASGI for one HTTP request to this endpoint's path."""
        if scope["method"] != "POST":
            reply = Reply(405, render({"detail": "Method Not Allowed"}), ((b"allow", b"POST"),))
        else:
            reply = await answer(context, self.plugin, self.kind, scope, receive)
        await send_json(send, reply.status, reply.body, reply.headers)


def endpoints(plugins: list[ItsmPlugin]) -> dict[str, WebhookEndpoint]:
    """By path: `/webhook/<plugin>` for ticket events, `/webhook/<plugin>/resolved-ticket`
    for the similar-ticket history."""
    found: dict[str, WebhookEndpoint] = {}
    for plugin in plugins:
        base = f"/webhook/{plugin.name}"
        found[base] = WebhookEndpoint(plugin, None)
        found[base + RESOLVED_PATH] = WebhookEndpoint(plugin, "resolved")
    return found


def described(plugin: ItsmPlugin) -> APIRouter:
    """The plugin's webhook operations for the OpenAPI document only: `WebhookEndpoint`
    serves these paths, so this router is never mounted and its functions never run."""
    router = APIRouter(prefix=f"/webhook/{plugin.name}", tags=["webhooks"])
    options: dict[str, Any] = {
        "status_code": 202,
        "response_model": None,
        "responses": _ANSWERS,
        "openapi_extra": _signed_request(plugin),
    }

    @router.post("", **options)
    async def ticket_event(tenant: TenantQuery = None, x_tenant_id: TenantHeader = None) -> None:
        """A ticket event; the body's "event" says created, updated or resolved."""

    @router.post(RESOLVED_PATH, **options)
    async def resolved_ticket(tenant: TenantQuery = None, x_tenant_id: TenantHeader = None) -> None:
        """A resolved ticket, for the similar-ticket history."""

    return router
