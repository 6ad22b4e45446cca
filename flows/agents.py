"""Which agent version handles an event, and what its spec means for gathering and the note.

The tenant's running versions are read once per tenant per AI_AGENTS_TENANT_CACHE_SECONDS
(so an activation or rollback reaches the flow within that time) and the first active
version, by priority, whose rules select the ticket handles it. A tenant with none gets
the default agent: today's behaviour, recorded as agent "default" version 0. The choice is
made once, when the event starts: an event in flight finishes on that version.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiops.agent_spec import DEFAULT_AGENT, DEFAULT_VERSION, AgentSpec, applies, default_spec
from aiops.events import Ticket
from aiops.settings import Settings
from flows.tenant_cache import TenantCache
from flows.transactions import classified_database_errors
from warehouse.agents import Deployed, Running, deployed
from warehouse.db import Database
from warehouse.tenants import TenantConfig


@dataclass(frozen=True)
class GatherPlan:
    """What the gatherer fetches for one version: items per source, and the floor."""

    similar_k: int
    kb_k: int
    inventory: bool = True
    monitoring: bool = True
    min_relevance: float = 0.0


def plan_for(spec: AgentSpec) -> GatherPlan:
    return GatherPlan(
        similar_k=spec.sources.similar_tickets,
        kb_k=spec.sources.kb_articles,
        inventory=spec.sources.inventory,
        monitoring=spec.sources.monitoring,
        min_relevance=spec.min_relevance,
    )


@dataclass(frozen=True)
class Choice:
    agent_id: str
    version: int
    spec: AgentSpec
    reason: str
    shadows: tuple[Running, ...] = ()

    @property
    def is_default(self) -> bool:
        return self.agent_id == DEFAULT_AGENT


def choose(deployed: Deployed, ticket: Ticket, default: AgentSpec) -> Choice:
    for running in deployed.active:
        selected, reason = applies(running.spec.applies_to, ticket)
        if selected:
            return Choice(
                running.agent_id,
                running.version,
                running.spec,
                reason,
                deployed.shadows.get(running.agent_id, ()),
            )
    reason = "no active agent applies: the default agent" if deployed.active else "no agent"
    return Choice(DEFAULT_AGENT, DEFAULT_VERSION, default, reason)


def tenant_for(spec: AgentSpec, tenant: TenantConfig) -> TenantConfig:
    """The tenant as the version's model chain sees it: its models, on the tenant's own
    endpoint and key (or the installation's); no chain: the tenant's own."""
    if not spec.models:
        return tenant
    return dataclasses.replace(
        tenant, llm_model=spec.models[0], llm_fallbacks=tuple(spec.models[1:])
    )


def writes_back(spec: AgentSpec, tenant: TenantConfig) -> bool:
    return tenant.writes_back and spec.write_back == "post"


def clip_note(text: str, spec: AgentSpec) -> str:
    """The note at most the version's length (the model is asked to keep to it, too)."""
    limit = spec.note.max_chars
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class AgentDirectory:
    """Each tenant's running versions, cached like tenant settings."""

    def __init__(
        self,
        load: Callable[[str], Deployed],
        default: AgentSpec,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache: TenantCache[Deployed] = TenantCache(load, ttl_seconds, clock)
        self._default = default

    def choice(self, tenant_id: str, ticket: Ticket) -> Choice:
        return choose(self._cache.get(tenant_id) or Deployed(), ticket, self._default)


def agent_directory(db: Database, settings: Settings) -> AgentDirectory:
    def load(tenant_id: str) -> Deployed:
        with classified_database_errors(), db.tenant(tenant_id) as conn:
            return deployed(conn)

    default = default_spec(settings.similar_tickets_k, settings.kb_articles_k)
    return AgentDirectory(load, default, settings.tenant_cache_seconds)
