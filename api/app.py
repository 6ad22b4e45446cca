"""The management app factory: `uvicorn --factory api.app:create_app`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import redis
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from aiops.embedded import services
from aiops.logs import configure_logging
from aiops.secrets import admin_token, secret_box
from aiops.settings import Settings, get_settings
from api.deps import ApiState, require_admin
from api.routers import analytics, enhancements, health, llm, tenants, tickets
from warehouse.db import Database


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's default echoes the request body back, secrets included: this does not."""
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if not logging.getLogger().handlers:
        # uvicorn configures only its own loggers; a host that set up logging keeps it.
        configure_logging("api")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with contextlib.ExitStack() as stack:
            urls = stack.enter_context(services(settings))
            db = stack.enter_context(Database(urls.database_url))
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
                box=secret_box(settings),
                admin_token=admin_token(settings),
            )
            yield

    app = FastAPI(
        title="AI Ops management API",
        description="Tenants, their ticket history, enhancement results and analytics. Every "
        "route but /health needs `Authorization: Bearer <admin token>`.",
        lifespan=lifespan,
    )
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(health.router)
    admin = [Depends(require_admin)]
    app.include_router(tenants.router, dependencies=admin)
    app.include_router(enhancements.router, dependencies=admin)
    app.include_router(tickets.router, dependencies=admin)
    app.include_router(analytics.router, dependencies=admin)
    app.include_router(llm.router, dependencies=admin)
    return app
