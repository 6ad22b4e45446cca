"""Per-tenant monthly LLM budgets in the flow: at 80 % a warning (metric and log), at
100 % the tenant's notes are composed offline, saying why, until the month turns or the
limit is raised.

The month's spend is read at most once per tenant per AI_AGENTS_TENANT_CACHE_SECONDS
(like tenant settings); in between, what each synthesis of this process cost is added to
it as the synthesis returns. A limit can therefore be overshot only by the events already
in flight when it is reached (and by other flow processes until their next read).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from prometheus_client import Gauge

from aiops.events import Event
from aiops.settings import Settings
from flows.context import Context
from flows.synthesis import Synthesis, Synthesizer
from flows.synthesis.choose import llm_route, synthesizer_for
from flows.synthesis.offline import OfflineSynthesizer
from flows.transactions import in_tenant
from warehouse import budgets
from warehouse.budgets import BudgetState, budget_state
from warehouse.db import Database, TenantConnection
from warehouse.tenants import TenantConfig

log = logging.getLogger(__name__)


def budget_header(spent_usd: float, limit_usd: float) -> str:
    return (
        f"AI Ops suggestions, composed offline from your ticket history, knowledge base, "
        f"inventory and monitoring: this month's language-model budget is used up "
        f"(${spent_usd:.2f} of ${limit_usd:.2f}). Notes use the language model again when "
        f"the month turns or the limit is raised."
    )


@dataclass(frozen=True)
class Budget:
    limit_usd: float
    spent_usd: float

    @property
    def state(self) -> BudgetState:
        return budget_state(self.spent_usd, self.limit_usd)


def _month(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m")


class BudgetGate:
    """Chooses a tenant's synthesizer, the budget considered."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        used_ratio: Gauge,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._settings = settings
        self._used_ratio = used_ratio
        self._clock = clock
        self._now = now
        self._lock = threading.Lock()
        self._read: dict[str, tuple[float, Budget | None]] = {}
        self._warned: set[tuple[str, str, str]] = set()  # (tenant, month, state) logged

    def synthesizer(self, tenant: TenantConfig) -> Synthesizer:
        if llm_route(tenant, self._settings) is None:
            return OfflineSynthesizer()  # no model anywhere: nothing to spend
        budget = self._budget(tenant.tenant_id)
        if budget is None:
            return synthesizer_for(tenant, self._settings)
        self._used_ratio.labels(tenant.tenant_id).set(
            budget.spent_usd / budget.limit_usd if budget.limit_usd else 1.0
        )
        state = budget.state
        if state != "ok":
            self._warn_once(tenant.tenant_id, budget)
        if state == "exhausted":
            return OfflineSynthesizer(header=budget_header(budget.spent_usd, budget.limit_usd))
        return _Counted(synthesizer_for(tenant, self._settings), self, tenant.tenant_id)

    def spent(self, tenant_id: str, cost_usd: float) -> None:
        """Adds one synthesis's cost to the tenant's spend as last read."""
        if cost_usd <= 0:
            return
        with self._lock:
            at, budget = self._read.get(tenant_id, (0.0, None))
            if budget is not None:
                self._read[tenant_id] = (at, replace(budget, spent_usd=budget.spent_usd + cost_usd))

    def _budget(self, tenant_id: str) -> Budget | None:
        at = self._clock()
        with self._lock:
            cached = self._read.get(tenant_id)
        if cached is not None and at - cached[0] < self._settings.tenant_cache_seconds:
            return cached[1]

        def read(conn: TenantConnection) -> Budget | None:
            own = budgets.tenant_limit_usd(conn)
            limit = own if own is not None else self._settings.llm_monthly_budget_usd
            return None if limit is None else Budget(limit, budgets.month_spend_usd(conn))

        budget = in_tenant(self._db, tenant_id, read)
        with self._lock:
            self._read[tenant_id] = (at, budget)
        return budget

    def _warn_once(self, tenant_id: str, budget: Budget) -> None:
        key = (tenant_id, _month(self._now()), budget.state)
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        log.warning(
            "tenant %s has used $%.2f of its $%.2f monthly LLM budget (%.0f%%)%s",
            tenant_id,
            budget.spent_usd,
            budget.limit_usd,
            100 * budget.spent_usd / budget.limit_usd if budget.limit_usd else 100,
            "; its notes are composed offline until the month turns or the limit is raised"
            if budget.state == "exhausted"
            else "",
        )


class _Counted:
    """A tenant's synthesizer whose every synthesis is counted against its budget at once."""

    def __init__(self, inner: Synthesizer, gate: BudgetGate, tenant_id: str) -> None:
        self._inner = inner
        self._gate = gate
        self._tenant_id = tenant_id

    def synthesize(self, event: Event, context: Context) -> Synthesis:
        synthesis = self._inner.synthesize(event, context)
        self._gate.spent(self._tenant_id, synthesis.cost_usd or 0.0)
        return synthesis
