"""Two tenants with a row of their own in every tenant table, for the RLS suites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg.types.json import Jsonb

from aiops.agent_spec import AgentSpec, Succeeds
from aiops.crypto import SecretBox
from aiops.events import Ticket
from warehouse import (
    agent_runs,
    agents,
    api_keys,
    budgets,
    knowledge,
    note_feedback,
    sandbox_jobs,
    triage,
)
from warehouse.agent_runs import RunRecord
from warehouse.db import Database, TenantConnection
from warehouse.tenants import TenantConfig, create_tenant
from warehouse.tickets import upsert_tickets


def _one_of_each_agent_row(conn: TenantConnection, tid: str) -> None:
    """An agent with one version, test case, deployment, run, sandbox job and note rating."""
    ticket = Ticket(id=f"{tid}-1", subject=f"printer of {tid}")
    agents.create_agent(conn, "helper", f"helper of {tid}", "", 1)
    agents.add_version(conn, "helper", AgentSpec(), "", "test")
    agents.add_test_case(conn, "helper", 1, "case", ticket, [Succeeds()])
    agents.activate(conn, "helper", 1, "test", overridden=False, reason="", tests=(0, 0))
    agent_runs.store(conn, RunRecord(f"{tid}-run", "helper", 1, "sandbox", ticket.id, "ok", 1.0))
    sandbox_jobs.add(conn, sandbox_jobs.Job(f"{tid}-job", "helper", 1, "sandbox", "test", ticket))
    note_feedback.add(conn, f"{tid}-ev", True, f"rating of {tid}", "", "api")


@pytest.fixture()
def pair(db: Database, box: SecretBox, tenant_id: str) -> Iterator[tuple[str, str]]:
    """Two tenants with a row of their own in every tenant table."""
    ids = (tenant_id + "-a", tenant_id + "-b")
    for tid in ids:
        create_tenant(db, box, TenantConfig(tenant_id=tid, display_name=tid))
        with db.tenant(tid) as conn:
            upsert_tickets(conn, [Ticket(id=f"{tid}-1", subject=f"printer of {tid}")], "test")
            knowledge.upsert_articles(conn, [knowledge.Article(f"{tid}-kb", "VPN")])
            knowledge.upsert_hosts(conn, [knowledge.Host(f"{tid}-host")])
            conn.execute(
                "INSERT INTO enhancement_history (tenant_id, event_id, ticket_id, source, kind,"
                " status, ticket) VALUES (current_setting('app.current_tenant_id', true), %s,"
                " '1', 'servicedesk', 'created', 'stored', %s)",
                (f"{tid}-ev", Jsonb({"id": "1"})),
            )
            api_keys.create_key(conn, f"key of {tid}", "admin")
            budgets.record_spend(conn, f"{tid}-ev", 0.01)
            triage.set_settings(conn, write_fields=True)
            _one_of_each_agent_row(conn, tid)
    yield ids
