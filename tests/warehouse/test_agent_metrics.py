"""Per-version figures read from the analytics warehouse (issue 11), for exported days,
and from PostgreSQL for the days after, in one aggregate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg

from aiops.agent_spec import AgentSpec
from aiops.crypto import SecretBox
from aiops.embedded import ServiceUrls
from tests.analytics import seed
from warehouse import agent_metrics, agent_runs, agents, note_feedback
from warehouse.agent_runs import RunRecord
from warehouse.analytics.export import ENHANCEMENTS, export_days
from warehouse.db import Database

AGENT = "helper"


def _agent_with_events(db: Database, box: SecretBox, tenant_id: str, ms: list[float]) -> None:
    """Version 1 active with events of `ms` two days ago, version 2 a shadow."""
    seed.tenant(db, box, tenant_id)
    day = seed.today() - timedelta(days=2)
    with db.tenant(tenant_id) as conn:
        agents.create_agent(conn, AGENT, "Helper", "", 1)
        agents.add_version(conn, AGENT, AgentSpec(), "", "test")
        agents.add_version(conn, AGENT, AgentSpec(), "", "test")
        for n, total in enumerate(ms):
            status = "failed" if n == len(ms) - 1 else "succeeded"
            seed.enhancement(conn, f"old-{n}", seed.at(day, 9, n), status=status, seconds=total)
            agents.record_version(conn, f"old-{n}", AGENT, 1)
        note_feedback.add(conn, "old-0", True, "", "tech", "api")
        note_feedback.add(conn, "old-1", False, "wrong printer", "tech", "api")
        agent_runs.store(conn, RunRecord("s-1", AGENT, 2, "shadow", "T-old-0", "succeeded", 70.0))


def test_figures_of_exported_days_come_from_the_warehouse(
    db: Database, box: SecretBox, service_urls: ServiceUrls, tenant_id: str, tmp_path: Path
) -> None:
    root = tmp_path / "warehouse"
    other = tenant_id + "-x"
    _agent_with_events(db, box, tenant_id, [100.0, 200.0, 300.0, 400.0])
    _agent_with_events(db, box, other, [9000.0, 9000.0])
    day = seed.today() - timedelta(days=2)
    since = datetime.now(UTC) - timedelta(days=30)

    with db.tenant(tenant_id) as conn:
        before_export = agent_metrics.version_metrics(conn, AGENT, since, root=root)
    export_days(db, root, ENHANCEMENTS, [tenant_id, other], [day])
    # After the export PostgreSQL changes behind the warehouse's back: the exported day's
    # rows lose their cost and one is deleted. Figures that still show them come from the
    # warehouse; today's event, never exported, can only come from PostgreSQL.
    with psycopg.connect(service_urls.migration_database_url) as owner:
        owner.execute(
            "UPDATE enhancement_history SET cost_usd = 0 WHERE tenant_id = %s", (tenant_id,)
        )
        owner.execute("DELETE FROM enhancement_history WHERE event_id = 'old-2'")
    with db.tenant(tenant_id) as conn:
        seed.enhancement(conn, "new-0", datetime.now(UTC), seconds=500.0)
        agents.record_version(conn, "new-0", AGENT, 1)
        figures = agent_metrics.version_metrics(conn, AGENT, since, root=root)

    one, two = figures[1], figures[0]
    assert [f.version for f in figures] == [2, 1]
    assert (before_export[1].volume, before_export[1].cost_usd) == (4, 0.005)
    assert (one.volume, one.succeeded, one.failed, one.success_rate) == (5, 4, 1, 0.8)
    # One percentile over 100, 200, 300, 400 (warehouse) and 500 (PostgreSQL).
    assert (one.p50_ms, one.p95_ms) == (300.0, 480.0)
    assert one.cost_usd == float(Decimal("0.001250") * 5)
    assert (one.prompt_tokens, one.completion_tokens) == (500, 250)
    assert (one.helpful, one.not_helpful) == (1, 1)
    # The shadow run is PostgreSQL's; the other tenant's 9,000 ms events count nowhere.
    assert (two.volume, two.succeeded, two.p50_ms, two.cost_usd) == (1, 1, 70.0, 0.0)


def test_a_version_without_events_has_empty_figures(
    db: Database, box: SecretBox, tenant_id: str, tmp_path: Path
) -> None:
    seed.tenant(db, box, tenant_id)
    with db.tenant(tenant_id) as conn:
        agents.create_agent(conn, AGENT, "Helper", "", 1)
        agents.add_version(conn, AGENT, AgentSpec(), "", "test")
        figures = agent_metrics.version_metrics(
            conn, AGENT, datetime.now(UTC) - timedelta(days=7), root=tmp_path / "warehouse"
        )
    assert [f.as_dict() for f in figures] == [
        {
            "version": 1,
            "volume": 0,
            "succeeded": 0,
            "failed": 0,
            "success_rate": None,
            "p50_ms": None,
            "p95_ms": None,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost_usd": 0.0,
            "helpful": 0,
            "not_helpful": 0,
        }
    ]
