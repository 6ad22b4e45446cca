"""A tenant's analytics warehouse: read-only SQL confined to its Parquet, and its rollups."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import duckdb
from fastapi import APIRouter, HTTPException, Query, status

from api.deps import ReadScopeDep, SettingsDep, errors
from api.models import AnalyticsQuery, AnalyticsRollups, AnalyticsRows
from warehouse.analytics import duck
from warehouse.analytics.layout import InvalidTenantError

router = APIRouter(prefix="/tenants/{tenant_id}/analytics", tags=["analytics"])

ROLLUP_DAYS = 30


def _records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: duck.to_jsonable(value) for key, value in row.items()} for row in rows]


@router.post("/sql", response_model=AnalyticsRows, responses=errors(400, 401, 404))
def sql(scope: ReadScopeDep, settings: SettingsDep, body: AnalyticsQuery) -> AnalyticsRows:
    """Runs one SELECT over the tenant's views only; other tenants' files cannot be read.

    Read scope is enough: the statement cannot change anything. The query runs under
    duck.DEFAULT_LIMITS (memory, one thread, a row cap and its own spill folder)."""
    try:
        result = duck.run_query(
            settings.warehouse_path,
            body.sql,
            tenant_id=scope.tenant_id,
            max_rows=body.max_rows,
            timeout_seconds=settings.analytics_query_timeout_seconds,
        )
    except (
        duck.QueryRefusedError,
        duck.QueryTimeoutError,
        duck.QueryTooLargeError,
        InvalidTenantError,
        duckdb.Error,
    ) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"query not run: {exc}") from exc
    rows = [[duck.to_jsonable(value) for value in row] for row in result.rows]
    return AnalyticsRows(columns=result.columns, rows=rows, truncated=result.truncated)


@router.get("/rollups", response_model=AnalyticsRollups, responses=errors(400, 401, 404))
def rollups(
    scope: ReadScopeDep,
    settings: SettingsDep,
    start: Annotated[
        date | None, Query(description="First day; default 29 days before end.")
    ] = None,
    end: Annotated[
        date | None, Query(description="Last day, inclusive; default today (UTC).")
    ] = None,
) -> AnalyticsRollups:
    """Daily rollups and per-source outcomes for start..end, oldest first."""
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=ROLLUP_DAYS - 1)
    if start > end:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "start is after end")
    root, tenant_id = settings.warehouse_path, scope.tenant_id
    return AnalyticsRollups(
        daily=_records(duck.daily_rollups(root, tenant_id, start, end)),
        sources=_records(duck.source_rollups(root, tenant_id, start, end)),
    )
