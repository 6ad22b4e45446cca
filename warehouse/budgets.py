"""A tenant's LLM spend this calendar month (UTC) and its own monthly limit.

Spend is what each synthesis was priced at (litellm's price list; 0 for models missing
from it), one llm_spend row per synthesis that cost something, summed over the month: a
backfill or a retry of an event adds to the month it ran in and replaces nothing.
Agent sandbox, test-case and shadow runs are in the ledger too: trying a version
spends the same money.
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


SPEND_TABLE = "llm_spend"


def record_spend(conn: TenantConnection, event_id: str, cost_usd: float | None) -> None:
    """Adds what one synthesis of `event_id` cost to the tenant's ledger (nothing if free).
    The row names the transaction's tenant, as every tenant insert does; the table's policy
    refuses it unless that is the signed context's tenant."""
    if cost_usd and cost_usd > 0:
        conn.execute(
            "INSERT INTO llm_spend (tenant_id, event_id, cost_usd) "
            "VALUES (current_setting('app.current_tenant_id', true), %s, %s)",
            (event_id, cost_usd),
        )


def month_spend_usd(conn: TenantConnection) -> float:
    row = conn.execute(
        """
        SELECT coalesce(sum(cost_usd), 0) AS spent FROM llm_spend
        WHERE spent_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
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
