"""Sandbox runs are retained like enhancement history: purged by the same days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from aiops.agent_spec import AgentSpec
from aiops.crypto import SecretBox
from aiops.embedded import ServiceUrls
from tests.flows.conftest import add_tenant
from warehouse import agent_runs, agents
from warehouse.agent_runs import RunRecord
from warehouse.db import Database
from warehouse.retention import SANDBOX_RUNS, purge


def test_old_sandbox_runs_are_purged_and_recent_ones_kept(
    db: Database, box: SecretBox, service_urls: ServiceUrls, tenant_id: str
) -> None:
    add_tenant(db, box, tenant_id)
    with db.tenant(tenant_id) as conn:
        agents.create_agent(conn, "a", "A", "", 1)
        agents.add_version(conn, "a", AgentSpec(), "", "test")
        for run_id in ("old", "new"):
            agent_runs.store(conn, RunRecord(run_id, "a", 1, "sandbox", "T1", "succeeded", 1.0))
    with psycopg.connect(service_urls.migration_database_url) as owner:
        owner.execute(
            "UPDATE sandbox_runs SET created_at = %s WHERE tenant_id = %s AND run_id = 'old'",
            (datetime.now(UTC) - timedelta(days=40), tenant_id),
        )
    today = datetime.now(UTC).date()
    before = today - timedelta(days=30)
    assert purge(db, tenant_id, SANDBOX_RUNS, before, batch_size=10, dry_run=True) == 1
    assert purge(db, tenant_id, SANDBOX_RUNS, before, batch_size=10, dry_run=False) == 1
    with db.tenant(tenant_id) as conn:
        left = [r["run_id"] for r in conn.execute("SELECT run_id FROM sandbox_runs")]
    assert left == ["new"]
