"""Webhook endpoints of one ITSM plugin; each answer is counted and logged exactly once."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from aiops.events import EventKind
from aiops.tenant_directory import is_tenant_id
from aiops.tracing import TENANT_ID, tracer
from ingest.context import Context
from ingest.receive import choose_tenant, receive
from ingest.rejection import Rejection
from itsm.base import ItsmPlugin

log = logging.getLogger(__name__)

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


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    detail: str | list[FieldProblem]


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
_ANSWERS: dict[int | str, dict[str, Any]] = {
    202: {"model": Accepted, "description": "Stored for enhancement (or already stored)."},
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


async def _answer(
    context: Context,
    plugin: ItsmPlugin,
    kind: EventKind | None,
    request: Request,
    query: str | None,
    header: str | None,
) -> Accepted | JSONResponse:
    counter = context.metrics.webhooks
    tenant_id: str | None = query or header
    try:
        tenant_id = choose_tenant(query, header)
        # The event's trace begins here; receive() names the event id on it.
        with tracer().start_as_current_span(
            "ingest webhook", attributes={TENANT_ID: tenant_id, "itsm.source": plugin.name}
        ) as span:
            try:
                received = await receive(context, plugin, kind, request, tenant_id)
            except Rejection as rejection:
                span.set_attribute("aiops.outcome", rejection.outcome)
                raise
            span.set_attribute("aiops.outcome", received.enqueued.outcome)
    except Rejection as rejection:
        counter.labels(plugin.name, rejection.outcome).inc()
        log.warning(
            "webhook source=%s tenant=%s outcome=%s status=%d event_id=%s%s",
            plugin.name,
            _loggable(tenant_id),
            rejection.outcome,
            rejection.status,
            rejection.event_id or "-",
            f" reason={rejection.reason}" if rejection.reason else "",
        )
        headers = {"Retry-After": str(rejection.retry_after)} if rejection.retry_after else None
        return JSONResponse(
            {"detail": rejection.detail}, status_code=rejection.status, headers=headers
        )
    enqueued = received.enqueued
    counter.labels(plugin.name, enqueued.outcome).inc()
    # A replay is a signed body seen before under another delivery id: someone resent a
    # captured webhook, or the ITSM changed its delivery id on a retry. Worth a look.
    log.log(
        logging.WARNING if enqueued.outcome == "replay" else logging.INFO,
        "webhook source=%s tenant=%s outcome=%s status=202 event_id=%s kind=%s stream=%s%s",
        plugin.name,
        tenant_id,
        enqueued.outcome,
        received.event.event_id,
        received.event.kind,
        enqueued.stream,
        f" replay_of={enqueued.original_event_id}" if enqueued.original_event_id else "",
    )
    return Accepted(event_id=received.event.event_id, duplicate=received.enqueued.duplicate)


def webhook_router(plugin: ItsmPlugin) -> APIRouter:
    """`/webhook/<plugin>` for ticket events, `/webhook/<plugin>/resolved-ticket` for history."""
    router = APIRouter(prefix=f"/webhook/{plugin.name}", tags=["webhooks"])

    @router.post(
        "",
        status_code=202,
        response_model=None,
        responses=_ANSWERS,
        openapi_extra=_signed_request(plugin),
    )
    async def ticket_event(
        request: Request,
        context: Context,
        tenant: TenantQuery = None,
        x_tenant_id: TenantHeader = None,
    ) -> Accepted | JSONResponse:
        return await _answer(context, plugin, None, request, tenant, x_tenant_id)

    @router.post(
        "/resolved-ticket",
        status_code=202,
        response_model=None,
        responses=_ANSWERS,
        openapi_extra=_signed_request(plugin),
    )
    async def resolved_ticket(
        request: Request,
        context: Context,
        tenant: TenantQuery = None,
        x_tenant_id: TenantHeader = None,
    ) -> Accepted | JSONResponse:
        return await _answer(context, plugin, "resolved", request, tenant, x_tenant_id)

    return router
