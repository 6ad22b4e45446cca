"""Monthly LLM budgets in the flow, against real PostgreSQL and litellm's OpenAI provider
on the stand-in: the month's spend is the ledger of what each synthesis cost."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from aiops.crypto import SecretBox
from aiops.settings import Settings
from flows.budget import budget_header
from flows.synthesis.offline import HEADER
from tests.fakes.openai_server import OpenAiServer
from tests.flows.conftest import add_tenant, recorded, run_flow
from tests.flows.events import entry, event
from warehouse import budgets, enhancements
from warehouse.budgets import budget_state
from warehouse.db import Database
from warehouse.enhancements import Result

KEY = "sk-budget-test"


@pytest.fixture()
def llm() -> Iterator[OpenAiServer]:
    with OpenAiServer(api_key=KEY) as server:
        yield server


def _platform(flow_settings: Settings, llm: OpenAiServer, limit: float | None) -> Settings:
    return flow_settings.model_copy(
        update={
            # In litellm's price list, so the stand-in's answers cost something.
            "llm_model": "openai/gpt-4o-mini",
            "llm_api_base": llm.base_url,
            "llm_api_key": SecretStr(KEY),
            "llm_monthly_budget_usd": limit,
        }
    )


def _spent(db: Database, tenant_id: str, event_id: str, cost: float, days_ago: int = 0) -> None:
    """An earlier enhancement that cost `cost`, `days_ago` days ago."""
    with db.tenant(tenant_id) as conn:
        enhancements.begin(conn, event(tenant_id, event_id, "earlier", event_id=event_id))
        enhancements.finish(conn, event_id, Result(status="stored"))
        conn.execute(
            "INSERT INTO llm_spend (tenant_id, event_id, cost_usd, spent_at) "
            "VALUES (%s, %s, %s, now() - make_interval(days => %s))",
            (tenant_id, event_id, cost, days_ago),
        )


def test_budget_states() -> None:
    assert budget_state(0, 10) == "ok"
    assert budget_state(7.99, 10) == "ok"
    assert budget_state(8, 10) == "warning"
    assert budget_state(9.99, 10) == "warning"
    assert budget_state(10, 10) == "exhausted"
    assert budget_state(0, 0) == "exhausted"


def test_the_cost_litellm_reports_is_recorded_and_counts_towards_the_month(
    flow_settings: Settings, db: Database, box: SecretBox, llm: OpenAiServer, tenant_id: str
) -> None:
    add_tenant(db, box, tenant_id)
    one = event(tenant_id, "1", "Mailbox full")
    runtime = run_flow(_platform(flow_settings, llm, 100.0), [entry(one)])
    cost = recorded(db, tenant_id, one.event_id)["cost_usd"]
    assert cost is not None and cost > 0
    with db.tenant(tenant_id) as conn:
        # enhancement_history keeps 6 decimals of a dollar, the ledger 8.
        assert budgets.month_spend_usd(conn) == pytest.approx(float(cost), abs=1e-6)
    ratio = runtime.metrics.registry.get_sample_value(
        "aiops_flow_llm_budget_used_ratio", {"tenant_id": tenant_id}
    )
    assert ratio == 0.0  # read before this event's cost existed


def test_at_80_percent_a_warning_and_at_100_offline_until_the_limit_is_raised(
    flow_settings: Settings,
    db: Database,
    box: SecretBox,
    llm: OpenAiServer,
    tenant_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    add_tenant(db, box, tenant_id)
    settings = _platform(flow_settings, llm, 10.0)
    _spent(db, tenant_id, "old-1", 8.5)

    warned = event(tenant_id, "2", "VPN slow")
    with caplog.at_level(logging.WARNING, logger="flows.budget"):
        runtime = run_flow(settings, [entry(warned)])
    assert recorded(db, tenant_id, warned.event_id)["synthesizer"] == "litellm"
    ratio = runtime.metrics.registry.get_sample_value(
        "aiops_flow_llm_budget_used_ratio", {"tenant_id": tenant_id}
    )
    assert ratio == pytest.approx(0.85)
    assert any("$8.50 of its $10.00 monthly LLM budget" in r.getMessage() for r in caplog.records)

    _spent(db, tenant_id, "old-2", 2.0)
    with db.tenant(tenant_id) as conn:
        spent = budgets.month_spend_usd(conn)  # 8.5 + 2.0 + what the warned event cost
    asked = len(llm.requests)
    over = event(tenant_id, "3", "Printer jams")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="flows.budget"):
        run_flow(settings, [entry(over)])
    row = recorded(db, tenant_id, over.event_id)
    assert len(llm.requests) == asked  # no model was asked
    assert row["synthesizer"] == "offline"
    assert row["output"].startswith(budget_header(spent, 10.0))
    assert "language-model budget is used up" in row["output"]
    assert any("composed offline until the month turns" in r.getMessage() for r in caplog.records)

    # The tenant's own, higher limit: the model again.
    with db.tenant(tenant_id) as conn:
        assert budgets.set_tenant_limit_usd(conn, 50.0)
    raised = event(tenant_id, "4", "Laptop will not boot")
    run_flow(settings, [entry(raised)])
    assert recorded(db, tenant_id, raised.event_id)["synthesizer"] == "litellm"


def test_last_months_spend_does_not_count_and_no_limit_means_no_gate(
    flow_settings: Settings, db: Database, box: SecretBox, llm: OpenAiServer, tenant_id: str
) -> None:
    add_tenant(db, box, tenant_id)
    _spent(db, tenant_id, "last-month", 500.0, days_ago=40)
    fresh = event(tenant_id, "5", "New starter account")
    run_flow(_platform(flow_settings, llm, 10.0), [entry(fresh)])
    assert recorded(db, tenant_id, fresh.event_id)["synthesizer"] == "litellm"

    _spent(db, tenant_id, "this-month", 500.0)
    unlimited = event(tenant_id, "6", "Share drive missing")
    runtime = run_flow(_platform(flow_settings, llm, None), [entry(unlimited)])
    assert recorded(db, tenant_id, unlimited.event_id)["synthesizer"] == "litellm"
    assert (
        runtime.metrics.registry.get_sample_value(
            "aiops_flow_llm_budget_used_ratio", {"tenant_id": tenant_id}
        )
        is None
    )


def test_without_any_model_the_note_still_says_no_model_is_configured(
    flow_settings: Settings, db: Database, box: SecretBox, tenant_id: str
) -> None:
    add_tenant(db, box, tenant_id)
    _spent(db, tenant_id, "spent", 99.0)
    quiet = event(tenant_id, "7", "Monitor flickers")
    run_flow(flow_settings.model_copy(update={"llm_monthly_budget_usd": 1.0}), [entry(quiet)])
    assert recorded(db, tenant_id, quiet.event_id)["output"].startswith(HEADER)


def test_a_backfill_adds_its_cost_to_the_month_instead_of_replacing_the_first(
    flow_settings: Settings, db: Database, box: SecretBox, llm: OpenAiServer, tenant_id: str
) -> None:
    add_tenant(db, box, tenant_id)
    settings = _platform(flow_settings, llm, 100.0)
    first = event(tenant_id, "7", "Teams crashes on start")
    run_flow(settings, [entry(first)])
    once = float(recorded(db, tenant_id, first.event_id)["cost_usd"])

    run_flow(settings, [entry(first.model_copy(update={"backfill": True}))])
    twice = float(recorded(db, tenant_id, first.event_id)["cost_usd"])

    assert once > 0 and twice > 0
    with db.tenant(tenant_id) as conn:
        assert budgets.month_spend_usd(conn) == pytest.approx(once + twice, abs=2e-6)


def test_spend_counts_as_each_synthesis_returns_not_only_at_the_next_read(
    flow_settings: Settings, db: Database, box: SecretBox, llm: OpenAiServer, tenant_id: str
) -> None:
    """Within one tenant-cache window: once the limit is reached, the next event is offline."""
    add_tenant(db, box, tenant_id)
    _spent(db, tenant_id, "nearly", 10.0 - 1e-7)  # one answer costs more
    settings = _platform(flow_settings, llm, 10.0).model_copy(
        update={"tenant_cache_seconds": 300.0, "flow_concurrency": 1}
    )
    burst = [event(tenant_id, str(n), f"Disk full on FS-0{n}") for n in range(10, 14)]

    run_flow(settings, [entry(e) for e in burst])

    made_by = [recorded(db, tenant_id, e.event_id)["synthesizer"] for e in burst]
    assert made_by.count("litellm") == 1 and made_by.count("offline") == 3, made_by
