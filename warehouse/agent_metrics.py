"""Per agent version: how its live events went and what technicians said.

Live events come from the analytics warehouse: DuckDB over the tenant's own exported
enhancement_history files (the days the daily export has covered), plus, from
PostgreSQL, the rows of days not exported yet (today, and yesterday until the schedule
has run), so the figures are complete and current. Shadow runs (sandbox_runs) and
technician feedback (note_feedback) are read from PostgreSQL, which is where they live.
Percentiles are computed over every row at once, in one DuckDB query, never merged from
parts. The tenant is the one PostgreSQL has scoped the connection to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from warehouse.analytics import duck
from warehouse.analytics.export import ENHANCEMENTS
from warehouse.analytics.layout import partition_days
from warehouse.db import TenantConnection, session_tenant


@dataclass(frozen=True)
class VersionFigures:
    version: int
    volume: int
    succeeded: int
    failed: int
    success_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    helpful: int
    not_helpful: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# One row per event or shadow run, as both sources hand it to the aggregate.
_OUTCOME = (
    "STRUCT(version INTEGER, ok BOOLEAN, bad BOOLEAN, ms DOUBLE, prompt_tokens INTEGER, "
    "completion_tokens INTEGER, cost_usd DECIMAL(18, 6))"
)

# Rows PostgreSQL still holds for the figures: live events of days the warehouse does
# not cover, and the agent's shadow runs.
_FROM_POSTGRES = """
SELECT agent_version AS version, status IN ('succeeded', 'stored') AS ok,
       status = 'failed' AS bad, (timings ->> 'total')::float AS ms,
       prompt_tokens, completion_tokens, cost_usd
FROM enhancement_history
WHERE agent_id = %(agent)s AND created_at >= %(since)s AND status <> 'processing'
  AND agent_version IS NOT NULL
  AND (created_at AT TIME ZONE 'UTC')::date <> ALL (%(exported)s::date[])
UNION ALL
SELECT version, status = 'succeeded', status = 'failed', ms, prompt_tokens,
       completion_tokens, cost_usd
FROM sandbox_runs
WHERE agent_id = %(agent)s AND kind = 'shadow' AND created_at >= %(since)s
  AND status <> 'not_applicable'
"""

_FIGURES = f"""
WITH outcomes AS (
    SELECT agent_version AS version, status IN ('succeeded', 'stored') AS ok,
           status = 'failed' AS bad, total_ms AS ms, prompt_tokens, completion_tokens,
           cost_usd::DECIMAL(18, 6) AS cost_usd
    FROM enhancement_history
    WHERE agent_id = $agent AND created_at >= $since AND status <> 'processing'
      AND agent_version IS NOT NULL AND day IN (SELECT unnest($exported::DATE[]))
    UNION ALL
    SELECT r.* FROM (SELECT unnest($postgres::{_OUTCOME}[]) AS r)
)
SELECT version, count(*) AS volume, count(*) FILTER (WHERE ok) AS succeeded,
       count(*) FILTER (WHERE bad) AS failed,
       quantile_cont(ms, 0.5) AS p50_ms, quantile_cont(ms, 0.95) AS p95_ms,
       coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
       coalesce(sum(completion_tokens), 0) AS completion_tokens,
       coalesce(sum(cost_usd), 0) AS cost_usd
FROM outcomes GROUP BY version
"""

_RATED = """
SELECT agent_version AS version, count(*) FILTER (WHERE helpful) AS helpful,
       count(*) FILTER (WHERE NOT helpful) AS not_helpful
FROM note_feedback WHERE agent_id = %(agent)s AND created_at >= %(since)s
GROUP BY agent_version
"""


def _figures(version: int, row: dict[str, Any], rated: dict[str, Any]) -> VersionFigures:
    succeeded, failed = int(row.get("succeeded", 0)), int(row.get("failed", 0))
    done = succeeded + failed
    p50, p95 = row.get("p50_ms"), row.get("p95_ms")
    return VersionFigures(
        version=version,
        volume=int(row.get("volume", 0)),
        succeeded=succeeded,
        failed=failed,
        success_rate=round(succeeded / done, 4) if done else None,
        p50_ms=round(p50, 2) if p50 is not None else None,
        p95_ms=round(p95, 2) if p95 is not None else None,
        prompt_tokens=int(row.get("prompt_tokens", 0)),
        completion_tokens=int(row.get("completion_tokens", 0)),
        cost_usd=round(float(row.get("cost_usd", 0)), 6),
        helpful=int(rated.get("helpful", 0)),
        not_helpful=int(rated.get("not_helpful", 0)),
    )


def exported_days(root: Path, tenant_id: str, since: datetime) -> list[date]:
    """Days from `since` on whose enhancement_history the warehouse holds."""
    return [d for d in partition_days(root, ENHANCEMENTS, tenant_id) if d >= since.date()]


def version_metrics(
    conn: TenantConnection, agent_id: str, since: datetime, *, root: Path
) -> list[VersionFigures]:
    """Every version of the agent, newest first, with its figures since `since`; `root`
    is the warehouse folder."""
    tenant_id = session_tenant(conn)
    exported = exported_days(root, tenant_id, since)
    params = {"agent": agent_id, "since": since, "exported": exported}
    recent = [dict(r) for r in conn.execute(_FROM_POSTGRES, params).fetchall()]
    rated = {r["version"]: dict(r) for r in conn.execute(_RATED, params).fetchall()}
    versions = conn.execute(
        "SELECT version FROM agent_versions WHERE agent_id = %s ORDER BY version DESC",
        (agent_id,),
    ).fetchall()
    with duck.read_only_connection(root, tenant_id) as duckdb_conn:
        cursor = duckdb_conn.execute(
            _FIGURES,
            {"agent": agent_id, "since": since, "exported": exported, "postgres": recent},
        )
        columns = [d[0] for d in cursor.description or []]
        figures = {row[0]: dict(zip(columns, row, strict=True)) for row in cursor.fetchall()}
    return [
        _figures(v["version"], figures.get(v["version"], {}), rated.get(v["version"], {}))
        for v in versions
    ]


def shadow_comparison(conn: TenantConnection, agent_id: str, limit: int) -> list[dict[str, Any]]:
    """Live events with shadow runs of the agent: the production row beside each shadow."""
    rows = conn.execute(
        """
        SELECT h.event_id, h.ticket_id, h.created_at, h.agent_version AS active_version,
               h.status AS active_status, h.output AS active_note,
               (h.timings ->> 'total')::float AS active_ms, h.cost_usd AS active_cost_usd,
               jsonb_agg(jsonb_build_object(
                   'version', s.version, 'status', s.status, 'note', s.note, 'ms', s.ms,
                   'cost_usd', s.cost_usd, 'run_id', s.run_id) ORDER BY s.version) AS shadows
        FROM sandbox_runs s
        JOIN enhancement_history h ON h.event_id = s.event_id
        WHERE s.kind = 'shadow' AND s.agent_id = %s
        GROUP BY h.id
        ORDER BY h.created_at DESC LIMIT %s
        """,
        (agent_id, limit),
    ).fetchall()
    return [dict(r) for r in rows]
