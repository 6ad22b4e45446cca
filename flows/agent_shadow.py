"""Shadow versions: run beside the active one on the same live tickets, never posted."""

from __future__ import annotations

import logging

from aiops.events import Event
from aiops.settings import Settings
from flows.agent_sandbox import Parts, trace_run
from flows.agents import Choice
from warehouse import agent_runs
from warehouse.db import Database
from warehouse.tenants import TenantConfig

log = logging.getLogger(__name__)


class ShadowRunner:
    """Runs an event's shadow versions after its active one, storing each result as a run
    of kind "shadow". Never posts; a failure is recorded in the run, never raised."""

    def __init__(self, db: Database, settings: Settings, parts: Parts) -> None:
        self._db = db
        self._settings = settings
        self._parts = parts

    def run(self, tenant: TenantConfig, event: Event, choice: Choice) -> None:
        for shadow in choice.shadows:
            try:
                record = trace_run(
                    self._db,
                    self._parts,
                    self._settings,
                    tenant,
                    event,
                    shadow.spec,
                    agent_id=shadow.agent_id,
                    version=shadow.version,
                    kind="shadow",
                    live_event_id=event.event_id,
                )
                with self._db.tenant(tenant.tenant_id) as conn:
                    agent_runs.store(conn, record)
            except Exception as exc:
                log.warning(
                    "tenant %s event %s: shadow version %s/%s not stored: %s",
                    tenant.tenant_id,
                    event.event_id,
                    shadow.agent_id,
                    shadow.version,
                    exc,
                )
