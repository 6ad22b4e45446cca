"""A tenant user's journeys through the web console in a real headless Chromium: sign in
with a tenant API key, create an agent, run the sandbox and read its trace, add test
cases, deploy (refused while a case fails, then with an override), roll back. Everything
goes through the real API and PostgreSQL; the sandbox posts nothing and writes no history."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from aiops.settings import Settings
from api.app import create_app
from tests.api.two_tenants import Party
from tests.console.browser import Page
from tests.console.conftest import serving
from tests.console.test_operator_console import ADMIN, party, sign_in
from tests.console.test_tenant_settings_console import fits
from tests.fakes.openai_server import OpenAiServer
from warehouse import agent_runs, agents
from warehouse.agent_runs import RunRecord
from warehouse.db import Database

LLM_KEY = "sk-console-test"


@pytest.fixture()
def llm() -> Iterator[OpenAiServer]:
    with OpenAiServer(api_key=LLM_KEY) as server:
        yield server


def _active(db: Database, tenant_id: str, agent_id: str) -> tuple[int | None, int | None]:
    with db.tenant(tenant_id) as conn:
        agent = agents.get_agent(conn, agent_id)
    assert agent is not None
    return agent.active_version, agent.previous_version


def _version_state(page: Page, state: str) -> None:
    page.wait_for(f"document.querySelector('#version-state')?.innerText.trim() === '{state}'")


def _history_rows(db: Database, tenant_id: str) -> int:
    with db.tenant(tenant_id) as conn:
        row = conn.execute("SELECT count(*) AS n FROM enhancement_history").fetchone()
    assert row is not None
    return int(row["n"])


def test_a_tenant_key_sees_only_its_own_tenant(
    page: Page, api_url: str, settings: Settings, db: Database, tenant_id: str
) -> None:
    mine = party(settings, db, tenant_id + "-a")
    theirs = party(settings, db, tenant_id + "-b")

    sign_in(page, api_url, mine.read_token)

    assert page.text("#who") == f"tenant {mine.tenant_id} (read key)"
    nav = page.text("#nav")
    assert "Agents" in nav and "History" in nav
    assert "Tenants" not in nav and "Dead letters" not in nav and "Health" not in nav
    page.goto(f"{api_url}/console/#/history")
    page.wait_text("#history-table", mine.event_id)
    assert page.evaluate("document.querySelector('#history-tenant')") is None
    # Typing another tenant's pages into the address bar reaches nothing of it.
    page.goto(f"{api_url}/console/#/dead-letters")
    page.wait_text("#main", "Agents")
    shown = page.evaluate("document.body.innerText")
    assert not [m for m in theirs.markers if m in shown]


# What only an admin-scope key may do on the agent pages (the API refuses it to a read key).
LIST_CONTROLS = ("#create-agent",)
AGENT_CONTROLS = ("#rollback", "#deactivate", "#new-version")
VERSION_CONTROLS = (
    "#deploy",
    "#override-reason",
    "#shadow",
    "#sandbox",
    "#run-tests",
    "#add-test-case",
)


def _present(page: Page, selectors: tuple[str, ...]) -> list[str]:
    found: list[str] = page.evaluate(
        f"{list(selectors)!r}.filter(s => document.querySelector(s) !== null)"
    )
    return found


def _controls_on_agent_pages(page: Page, api_url: str) -> dict[str, list[str]]:
    """Visits the agent list, helper's page and its v1: the change controls each shows."""
    page.goto(f"{api_url}/console/#/agents")
    page.wait_text("#agents-table", "helper")
    shown = {"list": _present(page, LIST_CONTROLS)}
    page.goto(f"{api_url}/console/#/agents/helper")
    page.wait_text("#versions-table", "v2")
    shown["agent"] = _present(page, AGENT_CONTROLS)
    page.goto(f"{api_url}/console/#/agents/helper/v/1")
    page.wait_text("#version-state", "active")
    shown["version"] = _present(page, VERSION_CONTROLS)
    return shown


def _shots(page: Page, folder: Path, name: str) -> None:
    """The page at 1280 and at 800 px wide, nothing reaching past the window's edge."""
    page.screenshot(folder / f"{name}.png")
    assert fits(page)
    page.resize(800)
    page.screenshot(folder / f"{name}-800.png")
    assert fits(page)
    page.resize(1280)


def test_a_read_key_sees_versions_results_and_traces_but_no_change_control(
    page: Page,
    api_url: str,
    settings: Settings,
    db: Database,
    tenant_id: str,
    screenshots: Path,
) -> None:
    user: Party = party(settings, db, tenant_id)
    with db.tenant(tenant_id) as conn:
        case = next(c for c in agents.list_test_cases(conn, "helper", 1) if c.name == "spare")
        agent_runs.store(
            conn,
            RunRecord(
                uuid.uuid4().hex,
                "helper",
                1,
                "test_case",
                case.ticket.id,
                "succeeded",
                12.0,
                stages=[
                    {
                        "name": "agent",
                        "status": "ok",
                        "ms": 0.1,
                        "input": {},
                        "output": {"why": "applies to every ticket"},
                    }
                ],
                case_id=case.case_id,
                note="Restart the spooler.",
                passed=False,
                failures=["the note does not cite KB-7"],
            ),
        )
    sign_in(page, api_url, user.read_token)
    assert page.text("#who") == f"tenant {tenant_id} (read key)"

    assert _controls_on_agent_pages(page, api_url) == {"list": [], "agent": [], "version": []}
    # Nothing on the page would be refused: it only reads.
    assert page.evaluate("document.querySelectorAll('#main form, #main button').length") == 0
    assert "read key" in page.text("#read-only")
    # The version's test-case results and its runs' traces are all there to read.
    assert "failed" in page.wait_text("#test-cases", "spare")
    page.click("#runs-table tr.clickable")
    assert "the note does not cite KB-7" in page.wait_text("#trace", "test_case run")
    page.click("#trace li[data-stage=agent] summary")
    page.wait_text("#trace li[data-stage=agent] .body", "applies to every ticket")
    _shots(page, screenshots, "console-agent-version-read")

    # The same pages with the tenant's admin key offer every control.
    page.click("#sign-out")
    sign_in(page, api_url, user.admin_token)
    assert _controls_on_agent_pages(page, api_url) == {
        "list": list(LIST_CONTROLS),
        "agent": list(AGENT_CONTROLS),
        "version": list(VERSION_CONTROLS),
    }
    assert page.evaluate("document.querySelector('#read-only')") is None
    _shots(page, screenshots, "console-agent-version-admin")
    page.goto(f"{api_url}/console/#/agents/helper")
    page.wait_text("#versions-table", "v2")
    _shots(page, screenshots, "console-agent-admin")


def test_create_an_agent_sandbox_it_test_deploy_and_roll_back(
    page: Page,
    api_url: str,
    settings: Settings,
    db: Database,
    redis_client: redis.Redis,
    sandbox_worker: None,
    tenant_id: str,
    screenshots: Path,
    llm: OpenAiServer,
) -> None:
    user: Party = party(settings, db, tenant_id)
    # The tenant's model is served by an OpenAI-compatible stand-in on loopback (an
    # endpoint only the admin token may set).
    with TestClient(create_app(settings)) as client:
        response = client.put(
            f"/tenants/{tenant_id}/llm",
            json={"model": "gpt-4o-mini", "api_base": llm.base_url, "api_key": LLM_KEY},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
    assert response.status_code == 200, response.text
    history_before = _history_rows(db, tenant_id)
    sign_in(page, api_url, user.admin_token)
    page.wait_text("#create-agent", "Create")

    # Create an agent: version 1 from the default spec with the tenant's own instructions.
    page.fill("#create-agent input[name=agent_id]", "email")
    page.fill("#create-agent input[name=name]", "E-mail tickets")
    page.fill("#create-agent textarea[name=instructions]", "Always name the affected host.")
    page.click("#create-agent button")
    page.wait_text("#versions-table", "v1")
    assert page.text("#active-version") == "none"
    page.click("#versions-table a")

    # The sandbox: a pasted ticket, the trace step by step.
    page.wait_text("#sandbox", "Run in the sandbox")
    page.fill("#sandbox input[name=t_id]", "SB-1")
    page.fill("#sandbox input[name=t_subject]", "Outlook cannot reach SQL01")
    page.fill("#sandbox textarea[name=t_description]", "Mail for jane@example.com bounces.")
    page.click("#sandbox button[type=submit]")
    page.wait_text("#trace", "sandbox run")
    stages = page.evaluate(
        "[...document.querySelectorAll('#trace ol.trace > li')].map(e => e.dataset.stage)"
    )
    # Production's stages (flows.process), in its order.
    assert stages[0] == "mask" and stages[-1] == "note"
    assert stages.index("noise") < stages.index("triage") < stages.index("prompt")
    assert stages.index("prompt") < stages.index("model") < stages.index("note")
    page.click("#trace li[data-stage=model] summary")
    attempts = page.wait_text("#trace li[data-stage=model] .attempts", "gpt-4o-mini")
    assert "ok" in attempts or "succeeded" in attempts, attempts
    page.click("#trace li[data-stage=note] summary")
    note = page.wait_text("#trace li[data-stage=note] .rendered-note", "Suggested")
    assert "Suggested next steps for" in note  # the stand-in's answer, rendered
    # The prompt the trace shows is the one the model got (after the key check at PUT).
    assert "Always name the affected host." in str(llm.requests[-1]["messages"])
    page.click("#trace li[data-stage=prompt] summary")
    prompt = page.wait_text("#trace li[data-stage=prompt] .body", "Always name the affected host.")
    assert "Outlook cannot reach SQL01" in prompt
    page.evaluate("document.querySelector('#trace').scrollIntoView()")
    page.screenshot(screenshots / "console-sandbox-trace.png", whole_page=False)
    assert _history_rows(db, tenant_id) == history_before  # the sandbox wrote no history
    assert redis_client.keys(f"{settings.stream_prefix}:events:*") == []

    # A test case that holds, then deploy v1.
    page.fill("#add-test-case input[name=name]", "makes a note")
    page.fill("#add-test-case input[name=c_id]", "TC-1")
    page.fill("#add-test-case input[name=c_subject]", "Printer jam on floor 2")
    page.fill("#add-test-case .expectation select[name=kind]", "succeeds")
    page.click("#add-test-case button[type=submit]")
    page.wait_text("#test-cases", "makes a note")
    page.click("#run-tests")
    page.wait_text("#test-summary", "1 of 1 passed")
    page.click("#deploy")
    _version_state(page, "active")
    assert _active(db, tenant_id, "email") == (1, None)

    # Version 2, its test cases copied, plus one that fails: deploying it is refused.
    page.goto(f"{api_url}/console/#/agents/email")
    page.wait_text("#new-version", "Store as a new version")
    page.fill("#new-version input[name=comment]", "stricter")
    page.click("#new-version button[type=submit]")
    _version_state(page, "inactive")
    page.fill("#add-test-case input[name=name]", "names a host it cannot know")
    page.fill("#add-test-case input[name=c_id]", "TC-2")
    page.fill("#add-test-case input[name=c_subject]", "VPN drops")
    page.fill("#add-test-case .expectation input[name=value]", "NO-SUCH-HOST-42")
    page.click("#add-test-case button[type=submit]")
    page.wait_text("#test-cases", "names a host it cannot know")
    page.click("#deploy")
    refusal = page.wait_text("#flash .error", "NO-SUCH-HOST-42")
    assert "stays inactive" in refusal
    cases = page.wait_text("#test-cases", "failed")
    assert "passed" in cases  # the fresh verdicts of both cases, beside the refusal
    assert _active(db, tenant_id, "email") == (1, None)

    page.fill("#override-reason", "known gap, tracked in ticket OPS-9")
    page.click("#deploy")
    _version_state(page, "active")
    assert _active(db, tenant_id, "email") == (2, 1)

    # Roll back from the agent's page: v1 is live again, and the deployments say so.
    page.goto(f"{api_url}/console/#/agents/email")
    page.wait_text("#active-version", "v2")
    page.click("#rollback")
    page.wait_text("#active-version", "v1")
    deployments = page.wait_text("#deployments-table", "rollback")
    assert "known gap, tracked in ticket OPS-9" in deployments
    assert _active(db, tenant_id, "email") == (1, 2)
    page.screenshot(screenshots / "console-agent.png")

    # v2, now previous, shadows the live one: the comparison waits for live tickets.
    page.click("#versions-table a")
    _version_state(page, "previous")
    page.click("#shadow")
    _version_state(page, "shadow")
    page.goto(f"{api_url}/console/#/agents/email")
    page.wait_text("#shadow-comparison", "No live ticket has reached a shadow version yet")


def test_runs_the_worker_has_not_finished_in_time_are_polled_to_their_end(
    page: Page,
    settings: Settings,
    db: Database,
    redis_client: redis.Redis,
    sandbox_worker: None,
    tenant_id: str,
) -> None:
    """The API answers 202 at once (AI_AGENTS_SANDBOX_WAIT_SECONDS=0): the console polls
    the job and shows the trace and the test outcome as if it had waited."""
    user: Party = party(settings, db, tenant_id)
    with TestClient(create_app(settings)) as client:
        offline = client.delete(
            f"/tenants/{tenant_id}/llm", headers={"Authorization": f"Bearer {ADMIN}"}
        )
    assert offline.status_code in (200, 204), offline.text
    with serving(settings.model_copy(update={"sandbox_wait_seconds": 0.0})) as url:
        sign_in(page, url, user.admin_token)
        page.wait_text("#create-agent", "Create")
        page.goto(f"{url}/console/#/agents/helper/v/2")
        page.wait_text("#sandbox", "Run in the sandbox")
        page.fill("#sandbox input[name=t_id]", "SB-2")
        page.fill("#sandbox input[name=t_subject]", "Outlook cannot reach SQL01")
        page.click("#sandbox button[type=submit]")
        page.wait_text("#trace", "sandbox run")
        stages = page.evaluate(
            "[...document.querySelectorAll('#trace ol.trace > li')].map(e => e.dataset.stage)"
        )
        assert stages[0] == "mask" and stages[-1] == "note"
        page.click("#run-tests")
        page.wait_text("#test-summary", "1 of 1 passed")
    with db.tenant(tenant_id) as conn:
        jobs = conn.execute("SELECT kind, status FROM sandbox_jobs ORDER BY created_at").fetchall()
    assert [(j["kind"], j["status"]) for j in jobs][-2:] == [
        ("sandbox", "done"),
        ("test_cases", "done"),
    ]
