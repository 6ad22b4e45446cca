"""The management app factory: `uvicorn --factory api.app:create_app`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import psycopg
import redis
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from aiops.embedded import services
from aiops.logs import configure_logging
from aiops.offline_docs import add_offline_docs
from aiops.secrets import admin_token, secret_box
from aiops.settings import Settings, get_settings
from aiops.tracing import configure_tracing
from api.deps import ApiState, get_principal
from api.metrics import ApiMetrics, MetricsMiddleware
from api.routers import (
    agent_runs,
    agents,
    analytics,
    api_keys,
    budget,
    enhancements,
    feedback,
    health,
    itsm_plugins,
    llm,
    metrics,
    system,
    tenants,
    tickets,
    triage,
    webhooks,
)
from api.web_console import add_console
from warehouse.db import Database
from warehouse.tenant_context import context_keys


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's default echoes the request body back, secrets included: this does not."""
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


async def _unstorable_text(_request: Request, exc: Exception) -> JSONResponse:
    """PostgreSQL text cannot hold a NUL character: a request carrying one is refused (422)
    rather than failing with a 500; any other data error stays a server error."""
    assert isinstance(exc, psycopg.DataError)
    if not isinstance(exc, psycopg.errors.UntranslatableCharacter) and "NUL" not in str(exc):
        raise exc
    # Shaped like a validation error: that is what it is, found one step later.
    error = {
        "loc": ["request"],
        "msg": "text cannot contain NUL (\\u0000) characters; remove them and send again",
        "type": "value_error",
    }
    return JSONResponse({"detail": [error]}, status_code=422)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if not logging.getLogger().handlers:
        # uvicorn configures only its own loggers; a host that set up logging keeps it.
        configure_logging("api", settings.log_level, settings.log_format)
    configure_tracing(settings, "api")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with contextlib.ExitStack() as stack:
            urls = stack.enter_context(services(settings))
            box = secret_box(settings)
            db = stack.enter_context(
                Database(
                    urls.database_url,
                    context_keys(box).signing,
                    operator_url=urls.operator_database_url,
                )
            )
            client = redis.Redis.from_url(
                urls.redis_url,
                socket_timeout=settings.redis_timeout_seconds,
                socket_connect_timeout=settings.redis_timeout_seconds,
            )
            stack.callback(client.close)
            app.state.api = ApiState(
                settings=settings,
                db=db,
                redis=client,
                box=box,
                admin_token=admin_token(settings),
            )
            yield

    app = FastAPI(
        title="AI Ops management API",
        description="Tenants, their ticket history, enhancement results and analytics. Every "
        "route but /health and /metrics needs `Authorization: Bearer <token>`: the admin "
        "token (every tenant, and registering tenants) or a tenant API key (its own tenant "
        "only; `read` scope for GETs and analytics SQL, `admin` scope for changes).",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    add_offline_docs(app)
    add_console(app)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(psycopg.DataError, _unstorable_text)
    app.state.metrics = ApiMetrics()
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.include_router(health.router)
    app.include_router(metrics.router)
    # Each route names the scope it needs (api.deps); this makes sure that a route which
    # forgets still refuses callers without a valid credential.
    authenticated = [Depends(get_principal)]
    app.include_router(tenants.router, dependencies=authenticated)
    app.include_router(itsm_plugins.router, dependencies=authenticated)
    app.include_router(api_keys.router, dependencies=authenticated)
    app.include_router(enhancements.router, dependencies=authenticated)
    app.include_router(tickets.router, dependencies=authenticated)
    app.include_router(analytics.router, dependencies=authenticated)
    app.include_router(budget.router, dependencies=authenticated)
    app.include_router(triage.router, dependencies=authenticated)
    app.include_router(llm.router, dependencies=authenticated)
    app.include_router(webhooks.router, dependencies=authenticated)
    app.include_router(system.router, dependencies=authenticated)
    app.include_router(agents.router, dependencies=authenticated)
    app.include_router(agent_runs.router, dependencies=authenticated)
    app.include_router(feedback.router, dependencies=authenticated)
    # A note's rating link: its signed token is the credential (aiops.feedback_token).
    app.include_router(feedback.public)
    return app
