"""Two tenants with data in every place the management API reaches, and a way to tell
whether anything of a tenant changed."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import redis
from fastapi.testclient import TestClient

from aiops.agent_spec import AgentSpec, Succeeds
from aiops.events import Ticket
from aiops.settings import Settings
from tests.analytics import seed
from warehouse import agent_runs, agents, api_keys, sandbox_jobs
from warehouse.agent_runs import RunRecord
from warehouse.analytics import rollups
from warehouse.analytics.export import ENHANCEMENTS, TICKETS, export_partition
from warehouse.analytics.layout import tenant_dir
from warehouse.db import Database

DAY: date = seed.today() - timedelta(days=1)


@dataclass(frozen=True)
class Party:
    """One tenant, what it holds, and its keys."""

    tenant_id: str
    event_id: str
    ticket_id: str
    admin_token: str
    read_token: str
    spare_key_id: str
    markers: tuple[str, ...]
    # Agent "helper": version 1 active, version 2 with a passing test case, one run, one
    # sandbox job.
    case_id: int = 0
    run_id: str = ""
    job_id: str = ""

    def auth(self, scope: api_keys.Scope) -> dict[str, str]:
        token = self.admin_token if scope == "admin" else self.read_token
        return {"Authorization": f"Bearer {token}"}


def make_party(
    client: TestClient, admin: dict[str, str], db: Database, settings: Settings, tenant_id: str
) -> Party:
    display = f"Display of {tenant_id}"
    body = {
        "tenant_id": tenant_id,
        "display_name": display,
        "webhook_secret": f"whsec_{tenant_id}_" + "s" * 24,
        "llm_model": "gpt-4o-mini",
        "llm_fallbacks": ["gpt-4o"],
        "llm_api_key": f"sk-{tenant_id}-llm",
    }
    created = client.post("/tenants", json=body, headers=admin)
    assert created.status_code == 201, created.text
    event_id, ticket_id = f"{tenant_id}-ev", f"{tenant_id}-T"
    root = settings.warehouse_path
    with db.tenant(tenant_id) as conn:
        seed.enhancement(conn, event_id, seed.at(DAY), ticket_id=ticket_id, subject=display)
        seed.ticket(conn, ticket_id, seed.at(DAY), subject=f"secret subject of {tenant_id}")
        export_partition(conn, root, ENHANCEMENTS, tenant_id, DAY)
        export_partition(conn, root, TICKETS, tenant_id, DAY)
        admin_key = api_keys.create_key(conn, f"admin key of {tenant_id}", "admin")
        read_key = api_keys.create_key(conn, f"read key of {tenant_id}", "read")
        spare = api_keys.create_key(conn, f"spare key of {tenant_id}", "read")
    rollups.write_daily(root, tenant_id, DAY)
    rollups.write_sources(root, tenant_id, DAY)
    case_id, run_id, job_id = _agent(db, tenant_id, ticket_id)
    return Party(
        case_id=case_id,
        run_id=run_id,
        job_id=job_id,
        tenant_id=tenant_id,
        event_id=event_id,
        ticket_id=ticket_id,
        admin_token=admin_key.token,
        read_token=read_key.token,
        spare_key_id=spare.key.key_id,
        markers=(
            tenant_id,
            display,
            event_id,
            ticket_id,
            f"sk-{tenant_id}-llm",
            admin_key.key.key_id,
            read_key.key.key_id,
            spare.key.key_id,
        ),
    )


def _agent(db: Database, tenant_id: str, ticket_id: str) -> tuple[int, str, str]:
    """Agent "helper" with version 1 active and version 2 ready (its test case passes
    offline); a stored run and sandbox job; the id of a test case of version 1."""
    ticket = Ticket(id=ticket_id, subject=f"agent ticket of {tenant_id}")
    with db.tenant(tenant_id) as conn:
        agents.create_agent(conn, "helper", f"helper of {tenant_id}", "", 100)
        agents.add_version(conn, "helper", AgentSpec(), "", "seed")
        agents.add_version(conn, "helper", AgentSpec(), "", "seed")
        agents.activate(conn, "helper", 1, "seed", overridden=False, reason="", tests=(0, 0))
        agents.add_test_case(conn, "helper", 2, "runs", ticket, [Succeeds()])
        case = agents.add_test_case(conn, "helper", 1, "spare", ticket, [Succeeds()])
        run = RunRecord(uuid.uuid4().hex, "helper", 1, "sandbox", ticket_id, "succeeded", 1.0)
        agent_runs.store(conn, run)
        job = sandbox_jobs.Job(uuid.uuid4().hex, "helper", 1, "sandbox", "seed", ticket)
        sandbox_jobs.add(conn, job)
    return case.case_id, run.run_id, job.job_id


_TABLES = {
    "tenant_configs": "tenant_id",
    "ticket_history": "ticket_id",
    "enhancement_history": "event_id",
    "api_keys": "key_id",
    "kb_articles": "article_id",
    "system_inventory": "hostname",
    "triage_settings": "tenant_id",
    "agents": "agent_id",
    "agent_versions": "agent_id, version",
    "agent_test_cases": "id",
    "agent_deployments": "id",
    "sandbox_runs": "run_id",
    "sandbox_jobs": "job_id",
    "note_feedback": "id",
}


def snapshot(db: Database, client: redis.Redis, settings: Settings, tenant_id: str) -> Any:
    """Everything stored for the tenant: its rows, what ingest is told, its Parquet files."""
    with db.tenant(tenant_id) as conn:
        rows = {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall()
            for table, key in _TABLES.items()
        }
    for key in rows["api_keys"]:
        del key["last_used_at"]  # bookkeeping of the key's own use, not a change to the tenant
    published = client.hgetall(f"{settings.stream_prefix}:tenant:{tenant_id}")
    files = {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(tenant_dir(settings.warehouse_path, tenant_id).rglob("*"))
        if path.is_file()
    }
    return rows, published, files
