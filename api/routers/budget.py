"""A tenant's monthly LLM budget: what it may spend, what it spent this month (UTC).

Only the platform admin token sets a limit (it guards the platform's spending); a tenant's
own keys may read it. The flow picks a change up within AI_AGENTS_TENANT_CACHE_SECONDS.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from aiops.settings import Settings
from api.deps import PlatformAdminDep, ReadScopeDep, SettingsDep, TenantScope, errors
from warehouse import budgets

router = APIRouter(prefix="/tenants/{tenant_id}/llm/budget", tags=["llm"])


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    monthly_usd: float | None = Field(
        ge=0, le=1e9, description="None: the platform default (AI_AGENTS_LLM_MONTHLY_BUDGET_USD)."
    )


class BudgetOut(BaseModel):
    monthly_usd: float | None = Field(description="The tenant's own limit, if it has one.")
    effective_monthly_usd: float | None = Field(description="The limit that applies; None: none.")
    spent_this_month_usd: float
    state: str = Field(description="ok, warning (from 80 %), exhausted (notes composed offline).")


def _answer(scope: TenantScope, settings: Settings) -> BudgetOut:
    with scope.connection() as conn:
        own, spent = budgets.tenant_limit_usd(conn), budgets.month_spend_usd(conn)
    limit = own if own is not None else settings.llm_monthly_budget_usd
    state = "ok" if limit is None else budgets.budget_state(spent, limit)
    return BudgetOut(
        monthly_usd=own, effective_monthly_usd=limit, spent_this_month_usd=spent, state=state
    )


@router.get("", response_model=BudgetOut, responses=errors(401, 404))
def get_budget(scope: ReadScopeDep, settings: SettingsDep) -> BudgetOut:
    return _answer(scope, settings)


@router.put("", response_model=BudgetOut, responses=errors(401, 403, 404, 422))
def put_budget(
    scope: ReadScopeDep, _admin: PlatformAdminDep, body: BudgetIn, settings: SettingsDep
) -> BudgetOut:
    """Sets the tenant's own monthly limit, or (null) goes back to the platform default."""
    with scope.connection() as conn:
        if not budgets.set_tenant_limit_usd(conn, body.monthly_usd):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such tenant")
    return _answer(scope, settings)
