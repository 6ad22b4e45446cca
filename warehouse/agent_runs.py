"""sandbox_runs: every sandbox, test-case and shadow run with its trace (one tenant's rows).

Retained like enhancement_history (warehouse.retention purges both by the tenant's days).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from aiops.events import Ticket
from warehouse import budgets
from warehouse.db import TenantConnection


@dataclass
class RunRecord:
    run_id: str
    agent_id: str
    version: int
    kind: str  # sandbox | test_case | shadow
    ticket_id: str
    status: str  # succeeded | failed | not_applicable
    ms: float
    stages: list[dict[str, Any]] = field(default_factory=list)
    case_id: int | None = None
    event_id: str | None = None
    error: str | None = None
    note: str | None = None
    passed: bool | None = None
    failures: list[str] = field(default_factory=list)
    synthesizer: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    created_at: datetime | None = None  # set once stored

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def store(conn: TenantConnection, run: RunRecord) -> DictRow:
    row = conn.execute(
        """
        INSERT INTO sandbox_runs (tenant_id, run_id, agent_id, version, kind, case_id,
            event_id, ticket_id, status, error, note, passed, failures, synthesizer, model,
            prompt_tokens, completion_tokens, cost_usd, ms, stages)
        VALUES (current_setting('app.current_tenant_id', true), %s, %s, %s, %s, %s, %s, %s,
            %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        RETURNING created_at
        """,
        (
            run.run_id,
            run.agent_id,
            run.version,
            run.kind,
            run.case_id,
            run.event_id,
            run.ticket_id,
            run.status,
            run.error,
            run.note,
            run.passed,
            Jsonb(run.failures),
            run.synthesizer,
            run.model,
            run.prompt_tokens,
            run.completion_tokens,
            run.cost_usd,
            run.ms,
            Jsonb(run.stages),
        ),
    ).fetchone()
    assert row is not None
    # What the run's model calls cost counts against the tenant's monthly budget.
    budgets.record_spend(conn, run.event_id or f"{run.kind}:{run.run_id}", run.cost_usd)
    return row


_SUMMARY = (
    "run_id, agent_id, version, kind, case_id, event_id, ticket_id, status, passed, ms, "
    "cost_usd, created_at"
)


def list_runs(
    conn: TenantConnection,
    agent_id: str,
    *,
    version: int | None,
    kind: str | None,
    limit: int,
) -> list[DictRow]:
    return conn.execute(
        f"SELECT {_SUMMARY} FROM sandbox_runs WHERE agent_id = %(agent)s "
        "AND (%(version)s::int IS NULL OR version = %(version)s) "
        "AND (%(kind)s::text IS NULL OR kind = %(kind)s) "
        "ORDER BY created_at DESC, run_id LIMIT %(limit)s",
        {"agent": agent_id, "version": version, "kind": kind, "limit": limit},
    ).fetchall()


def get_run(conn: TenantConnection, agent_id: str, run_id: str) -> DictRow | None:
    return conn.execute(
        f"SELECT {_SUMMARY}, error, note, failures, synthesizer, model, prompt_tokens, "
        "completion_tokens, stages FROM sandbox_runs WHERE agent_id = %s AND run_id = %s",
        (agent_id, run_id),
    ).fetchone()


def history_ticket(conn: TenantConnection, ticket_id: str) -> Ticket | None:
    """A ticket of the tenant's history: its latest enhanced event, else the resolved copy."""
    row = conn.execute(
        "SELECT ticket FROM enhancement_history WHERE ticket_id = %s AND ticket IS NOT NULL "
        "ORDER BY created_at DESC LIMIT 1",
        (ticket_id,),
    ).fetchone()
    if row is not None:
        return Ticket.model_validate(row["ticket"])
    row = conn.execute(
        "SELECT ticket_id AS id, subject, description, priority, status, category, tags, "
        "resolution, created_at, resolved_at FROM ticket_history WHERE ticket_id = %s",
        (ticket_id,),
    ).fetchone()
    if row is None:
        return None
    # The resolution is what the agent would have to find: a test on it must not see it.
    return Ticket.model_validate({**row, "resolution": None, "tags": row["tags"] or []})
