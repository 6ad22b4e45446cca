"""The sandbox runs production's pipeline (flows.process) with a tracer and sinks that keep
nothing, against the real PostgreSQL, the SDP stand-in and litellm against the OpenAI
stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aiops.agent_spec import AgentSpec, AppliesTo, Cites, Succeeds
from aiops.crypto import SecretBox
from aiops.events import Ticket
from aiops.settings import Settings
from flows.agent_sandbox import Sandbox, sandbox_event
from flows.agents import choose
from flows.masking import mask_event, redactor_for
from tests.fakes.openai_server import OpenAiServer
from tests.fakes.sdp_server import SdpServer
from tests.flows.conftest import sdp_tenant, seed
from tests.flows.events import TRACED_STAGES
from warehouse import triage
from warehouse.agents import Deployed, Running
from warehouse.db import Database
from warehouse.knowledge import Article, Host
from warehouse.tenants import get_tenant

KEY = "sk-sandbox-pipeline"
HISTORY = [
    Ticket(
        id="800",
        subject="Outlook cannot open the mailbox on SQL01",
        category="Email",
        resolution="Repaired.",
    ),
    Ticket(id="801", subject="Printer jams on floor 2", resolution="New tray."),
]
ARTICLES = [Article("KB-101", "Outlook mailbox full", "Archive old mail to free the mailbox.")]
TICKET = Ticket(
    id="4711",
    subject="Outlook mailbox full on SQL01",
    description="Outlook says the mailbox is full. Host SQL01. password=hunter2",
    category="Email",
)


@pytest.fixture()
def llm() -> Iterator[OpenAiServer]:
    with OpenAiServer(KEY) as server:
        server.fail_models = {"broken"}
        yield server


@pytest.fixture()
def sandbox(flow_settings: Settings, db: Database, box: SecretBox) -> Iterator[Sandbox]:
    runner = Sandbox(db, flow_settings, box)
    yield runner
    runner.close()


@pytest.fixture()
def tenant(db: Database, box: SecretBox, tenant_id: str, sdp: SdpServer, llm: OpenAiServer) -> str:
    sdp_tenant(
        db,
        box,
        tenant_id,
        sdp,
        llm_model="openai/gpt-4o-mini",
        llm_api_base=llm.base_url,
        llm_api_key=KEY,
        mask_personal_data=True,
    )
    seed(db, tenant_id, history=HISTORY, articles=ARTICLES, hosts=[Host("SQL01")])
    with db.tenant(tenant_id) as conn:
        # Production would set the ticket's fields from the triage: the sandbox must not.
        triage.set_settings(conn, write_fields=True, threshold=0.01)
    return tenant_id


def _counts(db: Database, tenant_id: str) -> dict[str, Any]:
    with db.tenant(tenant_id) as conn:
        history = conn.execute("SELECT count(*) AS n FROM enhancement_history").fetchone()
        spend = conn.execute("SELECT event_id FROM llm_spend ORDER BY event_id").fetchall()
    assert history is not None
    return {"history": history["n"], "spend": [r["event_id"] for r in spend]}


def test_a_run_traces_every_production_stage_and_keeps_nothing_of_production(
    sandbox: Sandbox, db: Database, tenant: str, sdp: SdpServer, llm: OpenAiServer
) -> None:
    spec = AgentSpec(
        instructions="Name the host first.",
        models=["openai/broken", "openai/gpt-4o-mini"],
        min_relevance=0.5,
    )
    run = sandbox.run(
        tenant,
        "mail",
        1,
        spec,
        TICKET,
        kind="test_case",
        expectations=[Succeeds(), Cites(value="KB-101")],
    )
    assert run.status == "succeeded", run.error
    stages = {s["name"]: s for s in run.stages}
    assert [s["name"] for s in run.stages] == TRACED_STAGES
    assert all(isinstance(s["ms"], float) for s in run.stages)
    assert stages["gather"]["ms"] > 0 and stages["model"]["ms"] > 0
    assert "hunter2" not in str(run.stages)  # masked before anything saw it
    assert stages["noise"]["output"] == {"noise": False}
    similar = stages["similar_tickets"]
    assert similar["input"]["min_relevance"] == 0.5 and "Outlook" in similar["input"]["query"]
    kept = [t["ticket_id"] for t in similar["output"]["kept"]]
    dropped = similar["output"]["dropped"]
    assert kept == ["800"] and all("score" in t for t in similar["output"]["kept"])
    assert [d["ticket_id"] for d in dropped] == ["801"] and "below min_relevance 0.5" in dropped[0][
        "reason"
    ]
    assert stages["kb_articles"]["output"]["kept"][0]["article_id"] == "KB-101"
    assert [h["hostname"] for h in stages["inventory"]["output"]] == ["sql01"]
    suggested = stages["triage"]["output"]["suggestions"]
    assert ("category", "Email") in [(s["field"], s["value"]) for s in suggested]
    system = stages["prompt"]["output"]["messages"][0]["content"]
    assert "Name the host first." in system
    attempts = stages["model"]["output"]["attempts"]
    assert [(a["model"], a["outcome"]) for a in attempts] == [
        ("openai/broken", "failed"),
        ("openai/gpt-4o-mini", "succeeded"),
    ]
    assert attempts[1]["answer"] and stages["model"]["output"]["cost_usd"] > 0
    assert stages["write_back"]["status"] == "skipped"
    assert stages["write_back"]["input"]["posts_in_production"] is True
    assert run.note == stages["note"]["output"]["note"]
    # The stand-in's answer quotes the ticket, not the article: the case is judged on the
    # note the pipeline made.
    assert run.failures == ["the note does not cite KB-101"] and run.passed is False
    assert [m["model"] for m in llm.requests] == ["broken", "gpt-4o-mini"]

    # Production's sinks ran and were rolled back: no request reached the ticketing
    # system (no note, no field), no history row or triage signature, no spend of the
    # event; the run is stored, its cost on the tenant's budget under the run's own key.
    assert sdp.received == []
    assert _counts(db, tenant) == {"history": 0, "spend": [f"test_case:{run.run_id}"]}


def test_noise_ends_the_run_where_production_skips_it(
    sandbox: Sandbox, db: Database, tenant: str, llm: OpenAiServer
) -> None:
    auto_reply = Ticket(
        id="4712",
        subject="Automatic reply: Outlook mailbox full",
        description="I am out of the office until Monday.",
        extra={"headers": {"Auto-Submitted": "auto-replied"}},
    )
    run = sandbox.run(tenant, "mail", 1, AgentSpec(), auto_reply, kind="sandbox")
    assert run.status == "skipped"
    assert [s["name"] for s in run.stages] == ["mask", "agent", "begin", "noise"]
    assert run.stages[-1]["status"] == "skipped: auto_reply"
    assert run.note is None and llm.requests == []
    assert _counts(db, tenant)["history"] == 0


def test_a_model_chain_that_fails_marks_the_model_stage_with_every_attempt(
    sandbox: Sandbox, db: Database, tenant: str
) -> None:
    spec = AgentSpec(models=["openai/broken"])
    run = sandbox.run(tenant, "mail", 1, spec, TICKET, kind="sandbox")
    assert run.status == "failed" and run.error
    model = run.stages[-1]
    assert model["name"] == "model" and model["status"].startswith("failed: ")
    assert [a["outcome"] for a in model["output"]["attempts"]] == ["failed"]
    assert "note" not in [s["name"] for s in run.stages]
    assert _counts(db, tenant)["history"] == 0


def test_the_trace_names_the_choice_production_makes_on_the_masked_ticket(
    sandbox: Sandbox, db: Database, box: SecretBox, tenant: str
) -> None:
    """A rule on a pasted password: masking hides it before production chooses, so the
    version is chosen for its other keyword only, and a rule on the password alone takes
    no ticket (a shadow of it does not run)."""
    config = get_tenant(db, box, tenant)
    assert config is not None
    event = sandbox_event(config, TICKET, "sandbox")
    masked = mask_event(event, redactor_for(config, event)).ticket
    assert "hunter2" in TICKET.description and "hunter2" not in masked.description
    spec = AgentSpec(applies_to=AppliesTo(keywords=["hunter2", "mailbox"]))
    production = choose(Deployed(active=(Running("mail", 100, 1, spec),)), masked, AgentSpec())

    run = sandbox.run(tenant, "mail", 1, spec, TICKET, kind="sandbox")

    assert run.status == "succeeded", run.error
    agent = next(s for s in run.stages if s["name"] == "agent")
    assert agent["output"] == {
        "agent_id": production.agent_id,
        "version": production.version,
        "applies": True,
        "why": production.reason,
    }
    assert production.reason == "matches the rules (keywords ['mailbox'])"

    password_only = AgentSpec(applies_to=AppliesTo(keywords=["hunter2"]))
    shadow = sandbox.run(tenant, "mail", 2, password_only, TICKET, kind="shadow")
    assert shadow.status == "not_applicable"
    assert [s["output"]["applies"] for s in shadow.stages] == [False]
