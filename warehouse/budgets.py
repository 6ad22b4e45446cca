"""A tenant's LLM spend this calendar month (UTC) and its own monthly limit.

Spend is what litellm priced each enhancement at (enhancement_history.cost_usd, from
litellm's completion_cost; 0 for models missing from its price list), summed over the
events finished since the month began, plus what agent sandbox, test-case and shadow runs
cost (sandbox_runs.cost_usd): trying a version spends the same money.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from warehouse.db import TenantConnection

WARN_AT = 0.8
BudgetState = Literal["ok", "warning", "exhausted"]


def budget_state(spent_usd: float, limit_usd: float) -> BudgetState:
    """Exhausted from the limit on, a warning from 80 % of it."""
    if spent_usd >= limit_usd:
        return "exhausted"
    return "warning" if spent_usd >= WARN_AT * limit_usd else "ok"


def month_spend_usd(conn: TenantConnection) -> float:
    row = conn.execute(
        """
        WITH month AS (
            SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start
        )
        SELECT (SELECT coalesce(sum(cost_usd), 0) FROM enhancement_history, month
                WHERE finished_at >= month.start)
             + (SELECT coalesce(sum(cost_usd), 0) FROM sandbox_runs, month
                WHERE created_at >= month.start) AS spent
        """
    ).fetchone()
    assert row is not None
    return float(row["spent"])


def tenant_limit_usd(conn: TenantConnection) -> float | None:
    """The tenant's own limit; None means the platform default applies."""
    row = conn.execute("SELECT llm_monthly_budget_usd FROM tenant_configs").fetchone()
    value: Decimal | None = row["llm_monthly_budget_usd"] if row else None
    return None if value is None else float(value)


def set_tenant_limit_usd(conn: TenantConnection, limit_usd: float | None) -> bool:
    """Sets (None: clears, back to the platform default) the connection's tenant's limit.
    False when the tenant has no configuration."""
    row = conn.execute(
        "UPDATE tenant_configs SET llm_monthly_budget_usd = %s, updated_at = now() "
        "RETURNING tenant_id",
        (limit_usd,),
    ).fetchone()
    return row is not None
