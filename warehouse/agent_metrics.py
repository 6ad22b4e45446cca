"""Per agent version: how its live events went (enhancement_history, or sandbox_runs for
shadow runs) and what technicians said (note_feedback). PostgreSQL, one tenant's rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import DictRow

from warehouse.db import TenantConnection


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


_FIGURES = """
WITH live AS (
    SELECT agent_version AS version, status IN ('succeeded', 'stored') AS ok,
           status = 'failed' AS bad, (timings ->> 'total')::float AS ms,
           prompt_tokens, completion_tokens, cost_usd
    FROM enhancement_history
    WHERE agent_id = %(agent)s AND created_at >= %(since)s AND status <> 'processing'
    UNION ALL
    SELECT version, status = 'succeeded', status = 'failed', ms, prompt_tokens,
           completion_tokens, cost_usd
    FROM sandbox_runs
    WHERE agent_id = %(agent)s AND kind = 'shadow' AND created_at >= %(since)s
      AND status <> 'not_applicable'
), figures AS (
    SELECT version, count(*) AS volume, count(*) FILTER (WHERE ok) AS succeeded,
           count(*) FILTER (WHERE bad) AS failed,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50_ms,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) AS p95_ms,
           coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
           coalesce(sum(completion_tokens), 0) AS completion_tokens,
           coalesce(sum(cost_usd), 0) AS cost_usd
    FROM live WHERE version IS NOT NULL GROUP BY version
), rated AS (
    SELECT agent_version AS version, count(*) FILTER (WHERE helpful) AS helpful,
           count(*) FILTER (WHERE NOT helpful) AS not_helpful
    FROM note_feedback WHERE agent_id = %(agent)s AND created_at >= %(since)s
    GROUP BY agent_version
)
SELECT v.version, coalesce(f.volume, 0) AS volume, coalesce(f.succeeded, 0) AS succeeded,
       coalesce(f.failed, 0) AS failed, f.p50_ms, f.p95_ms,
       coalesce(f.prompt_tokens, 0) AS prompt_tokens,
       coalesce(f.completion_tokens, 0) AS completion_tokens,
       coalesce(f.cost_usd, 0) AS cost_usd,
       coalesce(r.helpful, 0) AS helpful, coalesce(r.not_helpful, 0) AS not_helpful
FROM agent_versions v
LEFT JOIN figures f ON f.version = v.version
LEFT JOIN rated r ON r.version = v.version
WHERE v.agent_id = %(agent)s
ORDER BY v.version DESC
"""


def _figures(row: DictRow) -> VersionFigures:
    volume = int(row["volume"])
    done = int(row["succeeded"]) + int(row["failed"])
    return VersionFigures(
        version=row["version"],
        volume=volume,
        succeeded=int(row["succeeded"]),
        failed=int(row["failed"]),
        success_rate=round(int(row["succeeded"]) / done, 4) if done else None,
        p50_ms=round(row["p50_ms"], 2) if row["p50_ms"] is not None else None,
        p95_ms=round(row["p95_ms"], 2) if row["p95_ms"] is not None else None,
        prompt_tokens=int(row["prompt_tokens"]),
        completion_tokens=int(row["completion_tokens"]),
        cost_usd=round(float(row["cost_usd"]), 6),
        helpful=int(row["helpful"]),
        not_helpful=int(row["not_helpful"]),
    )


def version_metrics(conn: TenantConnection, agent_id: str, since: datetime) -> list[VersionFigures]:
    rows = conn.execute(_FIGURES, {"agent": agent_id, "since": since}).fetchall()
    return [_figures(r) for r in rows]


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
