"""Webhook endpoints of one ITSM plugin; each answer is counted and logged exactly once."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from aiops.events import EventKind
from aiops.tenant_directory import is_tenant_id
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
    duplicate: bool


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
        received = await receive(context, plugin, kind, request, tenant_id)
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
    outcome = "duplicate" if received.enqueued.duplicate else "accepted"
    counter.labels(plugin.name, outcome).inc()
    log.info(
        "webhook source=%s tenant=%s outcome=%s status=202 event_id=%s kind=%s stream=%s",
        plugin.name,
        tenant_id,
        outcome,
        received.event.event_id,
        received.event.kind,
        received.enqueued.stream,
    )
    return Accepted(event_id=received.event.event_id, duplicate=received.enqueued.duplicate)


def webhook_router(plugin: ItsmPlugin) -> APIRouter:
    """`/webhook/<plugin>` for ticket events, `/webhook/<plugin>/resolved-ticket` for history."""
    router = APIRouter(prefix=f"/webhook/{plugin.name}", tags=["webhooks"])
    answers: dict[int | str, dict[str, Any]] = {202: {"model": Accepted}}

    @router.post("", status_code=202, response_model=None, responses=answers)
    async def ticket_event(
        request: Request,
        context: Context,
        tenant: TenantQuery = None,
        x_tenant_id: TenantHeader = None,
    ) -> Accepted | JSONResponse:
        return await _answer(context, plugin, None, request, tenant, x_tenant_id)

    @router.post("/resolved-ticket", status_code=202, response_model=None, responses=answers)
    async def resolved_ticket(
        request: Request,
        context: Context,
        tenant: TenantQuery = None,
        x_tenant_id: TenantHeader = None,
    ) -> Accepted | JSONResponse:
        return await _answer(context, plugin, "resolved", request, tenant, x_tenant_id)

    return router
