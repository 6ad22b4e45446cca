"""Editing a tenant in the web console, in a real headless Chromium against the real API:
the LLM chain (keys tried against the OpenAI stand-in), the budget, triage, API keys
(shown once, then never), the ITSM connection (credentials tried against the SDP and Jira
stand-ins), webhook secret rotation. No secret the console was given ever comes back in a
response or stays in the page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from aiops.crypto import SecretBox
from aiops.llm import LlmTarget
from aiops.settings import Settings
from tests.console.browser import Page
from tests.console.test_operator_console import ADMIN, party, sign_in
from tests.fakes.jira_server import JiraServer
from tests.fakes.openai_server import OpenAiServer
from tests.fakes.sdp_server import SdpServer
from warehouse import budgets, triage
from warehouse.db import Database
from warehouse.tenants import TenantConfig, get_tenant

LLM_KEY = "sk-console-primary-key-0000000001"
FALLBACK_KEY = "sk-console-fallback-key-000000002"
WRONG_KEY = "sk-console-mistyped-key-000000003"
SDP_KEY = "sdp-technician-key-console-4444"
SDP_WRONG = "sdp-mistyped-key-console-5555"
JIRA_EMAIL = "agent@acme.example"
JIRA_TOKEN = "ATATT3xFfGF0-console-jira-token-66"
# Saving a key or credentials waits for the provider's answer (and litellm's first import
# in the API), which on a loaded machine takes longer than a page's usual wait.
TRIED = 90.0


@pytest.fixture()
def llm() -> Iterator[OpenAiServer]:
    with OpenAiServer(api_key=LLM_KEY) as server:
        yield server


@pytest.fixture()
def fallback_llm() -> Iterator[OpenAiServer]:
    with OpenAiServer(api_key=FALLBACK_KEY) as server:
        yield server


def assert_never_shown(page: Page, *secrets: str) -> None:
    """Not in the page's markup or text, not left in any input, not in any response."""
    html = page.evaluate("document.documentElement.outerHTML")
    text = page.evaluate("document.body.innerText")
    inputs = page.evaluate("[...document.querySelectorAll('input, textarea')].map(e => e.value)")
    responses = page.responses()
    assert responses, "the page received no response at all"
    for secret in secrets:
        assert secret not in html and secret not in text
        assert not [value for value in inputs if secret in value]
        assert not [url for url, body in responses if secret in body], secret


def stored(db: Database, box: SecretBox, tenant_id: str) -> TenantConfig:
    config = get_tenant(db, box, tenant_id)
    assert config is not None
    return config


def finished(page: Page, form: str) -> None:
    """Waits until the form's submission is over (its buttons are enabled again)."""
    page.wait_for(f"![...document.querySelectorAll('{form} button')].some(b => b.disabled)")


def fits(page: Page) -> bool:
    """No card or control reaches past the window's right edge."""
    overflowing = page.evaluate(
        "[...document.querySelectorAll('section.card, input, select, button, table')]"
        ".filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth)"
        ".map(e => e.id || e.name || e.tagName)"
    )
    assert overflowing == [], overflowing
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def open_tenant(page: Page, api_url: str, tenant_id: str) -> None:
    sign_in(page, api_url, ADMIN)
    page.goto(f"{api_url}/console/#/tenants/{tenant_id}")
    page.wait_text("#tenant-title", tenant_id)


def test_an_operator_edits_the_llm_chain_budget_and_triage(
    page: Page,
    api_url: str,
    settings: Settings,
    db: Database,
    box: SecretBox,
    tenant_id: str,
    llm: OpenAiServer,
    fallback_llm: OpenAiServer,
    screenshots: Path,
) -> None:
    party(settings, db, tenant_id)
    open_tenant(page, api_url, tenant_id)
    page.wait_text("#llm-chain", "gpt-4o-mini → gpt-4o; its own key")

    page.fill("#llm-form input[name=model]", "openai/gpt-4o-mini")
    page.fill("#llm-form input[name=api_base]", llm.base_url)
    page.fill("#llm-form input[name=api_key]", WRONG_KEY)
    page.click("#llm-form button[type=submit]")
    refused = page.wait_text("#flash .error", "nothing was saved", TRIED)
    assert "check the key" in refused
    assert stored(db, box, tenant_id).llm_model == "gpt-4o-mini"

    page.fill("#llm-form input[name=api_key]", LLM_KEY)
    page.click("#add-fallback")
    page.click("#add-fallback")
    first, second, third = (f"#llm-fallbacks .fallback:nth-child({n})" for n in (1, 2, 3))
    page.fill(f"{first} [data-part=model]", "openai/gpt-4o")
    page.fill(f"{second} [data-part=model]", "openai/gpt-4.1-mini")
    page.fill(f"{second} [data-part=api_base]", fallback_llm.base_url)
    page.fill(f"{second} [data-part=api_key]", FALLBACK_KEY)
    page.fill(f"{third} [data-part=model]", "openai/gpt-4o-mini")
    page.click("#llm-form button[type=submit]")
    chain = page.wait_text("#llm-chain", "gpt-4.1-mini", TRIED)

    assert chain.startswith("openai/gpt-4o-mini → openai/gpt-4o → openai/gpt-4.1-mini → ")
    assert f"endpoint {llm.base_url}" in chain and "its own key" in chain
    config = get_tenant(db, box, tenant_id)
    assert config is not None and config.llm_api_key == LLM_KEY
    assert config.llm_fallbacks == (
        "openai/gpt-4o",
        LlmTarget("openai/gpt-4.1-mini", fallback_llm.base_url, FALLBACK_KEY),
        "openai/gpt-4o-mini",
    )
    # Each key was tried with its own model before anything was saved.
    assert [r["model"] for r in fallback_llm.requests] == ["gpt-4.1-mini"]
    assert page.evaluate("document.querySelectorAll('#llm-fallbacks .fallback').length") == 3

    # Saved again with no key typed: the stored keys are kept.
    page.click("#llm-form button[type=submit]")
    page.wait_text("#flash", "Saved:", TRIED)
    kept = get_tenant(db, box, tenant_id)
    assert kept is not None and kept.llm_api_key == LLM_KEY
    assert kept.llm_fallbacks == config.llm_fallbacks

    with db.tenant(tenant_id) as conn:
        budgets.record_spend(conn, "ev-spent", 21.5)
    page.goto(f"{api_url}/console/#/tenants/{tenant_id}")
    page.wait_text("#budget-state", "spent this month")
    page.fill("#budget-form input[name=monthly_usd]", "25")
    page.click("#budget-form button")
    state = page.wait_text("#budget-state", "this tenant's own limit")
    assert "$21.50 spent this month (UTC) of $25.00" in state and "warning" in state
    meter = "document.querySelector('#budget-settings .meter > span').style.width"
    assert page.evaluate(meter) == "86%"
    with db.tenant(tenant_id) as conn:
        assert budgets.tenant_limit_usd(conn) == 25

    page.click("#triage-form input[name=write_fields]")
    page.fill("#triage-form input[name=threshold]", "0.8")
    page.click("#triage-form input[name=field_type]")
    page.click("#triage-form button")
    page.wait_text("#flash", "written to")
    with db.tenant(tenant_id) as conn:
        policy = triage.get_settings(conn)
    assert policy.write_fields and policy.threshold == pytest.approx(0.8)
    assert "type" not in policy.fields and "category" in policy.fields

    page.screenshot(screenshots / "console-tenant.png")
    assert fits(page)
    page.resize(800)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(screenshots / "console-tenant-800.png")
    assert fits(page)
    finished(page, "#llm-form")
    assert_never_shown(page, LLM_KEY, FALLBACK_KEY, WRONG_KEY, f"sk-{tenant_id}-llm")


def test_an_itsm_connection_is_tried_before_it_is_saved(
    page: Page,
    api_url: str,
    settings: Settings,
    db: Database,
    box: SecretBox,
    tenant_id: str,
) -> None:
    party(settings, db, tenant_id)
    with SdpServer(api_key=SDP_KEY) as sdp:
        url = sdp.base_url
        open_tenant(page, api_url, tenant_id)
        page.wait_text("#itsm-state", "no address")
        page.fill("#itsm-form [data-api=itsm_base_url]", sdp.base_url)
        page.fill("#itsm-form [data-api=itsm_api_key]", SDP_WRONG)
        page.click("#itsm-form button[type=submit]")
        failed = page.wait_text("#itsm-check", "Not saved", TRIED)
        assert "refused" in failed and "401" in failed
        assert stored(db, box, tenant_id).itsm_base_url is None

        page.fill("#itsm-form [data-api=itsm_api_key]", SDP_KEY)
        page.click("#itsm-form button[type=submit]")
        page.wait_text("#itsm-check", "ServiceDesk Plus accepted the credentials", TRIED)
        page.wait_text("#itsm-state", "credentials stored")
        finished(page, "#itsm-form")
        assert_never_shown(page, SDP_KEY, SDP_WRONG)
        assert len(sdp.received) == 2

    config = get_tenant(db, box, tenant_id)
    assert config is not None
    assert (config.itsm_base_url, config.itsm_api_key) == (url, SDP_KEY)
    page.wait_text("#tenants-table", f"servicedesk at {url}")


def test_registering_on_jira_asks_the_plugins_fields_and_tries_them(
    page: Page, api_url: str, db: Database, box: SecretBox, tenant_id: str
) -> None:
    with JiraServer(flavor="cloud", email=JIRA_EMAIL, token=JIRA_TOKEN) as jira:
        sign_in(page, api_url, ADMIN)
        page.goto(f"{api_url}/console/#/tenants")
        page.wait_for("!!document.querySelector('#register')")
        page.evaluate("document.querySelector('#register').open = true")
        page.fill("#create-tenant input[name=tenant_id]", tenant_id)
        page.fill("#create-tenant input[name=display_name]", "Acme on Jira")
        page.fill("#create-itsm-source", "jira")
        page.fill("#create-tenant [data-api=itsm_base_url]", jira.base_url)
        page.fill("#create-tenant [data-api=itsm_flavor]", "cloud")
        page.fill("#create-tenant [data-api=itsm_username]", JIRA_EMAIL)
        page.fill("#create-tenant [data-api=itsm_api_key]", "ATATT3xFfGF0-mistyped-000")
        page.click("#create-tenant button[type=submit]")
        page.wait_text("#flash .error", "refused the credentials (401)", TRIED)

        page.fill("#create-tenant [data-api=itsm_api_key]", JIRA_TOKEN)
        page.click("#create-tenant button[type=submit]")
        page.wait_text("#secret-once", "whsec_", TRIED)
        page.wait_text("#itsm-state", f"Jira at {jira.base_url}, credentials stored")
        finished(page, "#create-tenant")
        assert_never_shown(page, JIRA_TOKEN)

    config = get_tenant(db, box, tenant_id)
    assert config is not None and config.itsm_source == "jira"
    assert (config.itsm_username, config.itsm_api_key) == (JIRA_EMAIL, JIRA_TOKEN)


def test_an_api_key_is_shown_once_and_a_revoked_key_is_refused(
    page: Page, api_url: str, settings: Settings, db: Database, tenant_id: str
) -> None:
    party(settings, db, tenant_id)
    open_tenant(page, api_url, tenant_id)
    page.fill("#create-key input[name=name]", "dashboard")
    page.fill("#create-key select[name=scope]", "read")
    page.click("#create-key button")
    made = page.wait_text("#new-key", "aiok_")
    token = made.split()[-1]
    key_id = token.split(".")[1]
    page.wait_text("#api-keys-table", "dashboard")
    assert httpx.get(
        f"{api_url}/tenants", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).is_success

    # Only the answer that made it carried the token; the listing never does.
    carried = [url for url, body in page.responses() if token in body]
    assert len(carried) == 1 and carried[0].endswith("/api-keys")
    page.goto(f"{api_url}/console/#/health")
    page.goto(f"{api_url}/console/#/tenants/{tenant_id}")
    page.wait_text("#api-keys-table", "dashboard")
    assert token not in page.evaluate("document.documentElement.outerHTML")

    page.click(f"button.revoke[data-key='{key_id}']")
    page.wait_text("#flash", f"Key {key_id} is revoked")
    row = page.wait_for(
        f"[...document.querySelectorAll('#api-keys-table tr')]"
        f".find(r => r.innerText.includes('{key_id}') && r.innerText.includes('revoked'))"
        "?.innerText"
    )
    assert "Revoke" not in row.replace("revoked", "")
    refused = httpx.get(
        f"{api_url}/tenants", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert refused.status_code == 401


def test_a_tenant_admin_edits_its_own_tenant_within_the_apis_rules(
    page: Page,
    api_url: str,
    settings: Settings,
    db: Database,
    tenant_id: str,
    llm: OpenAiServer,
    screenshots: Path,
) -> None:
    mine = party(settings, db, tenant_id + "-a")
    theirs = party(settings, db, tenant_id + "-b")
    sign_in(page, api_url, mine.admin_token)
    assert page.text("#who") == f"tenant {mine.tenant_id} (admin key)"
    page.goto(f"{api_url}/console/#/settings")
    page.wait_text("#tenant-title", mine.tenant_id)
    page.wait_text("#budget-settings", "Only the platform operator sets the limit")
    assert page.evaluate("document.querySelector('#budget-form')") is None

    # A tenant key may not point the LLM at an internal address: the API's reason is shown.
    page.fill("#llm-form input[name=model]", "openai/gpt-4o-mini")
    page.fill("#llm-form input[name=api_base]", llm.base_url)
    page.fill("#llm-form input[name=api_key]", LLM_KEY)
    page.click("#llm-form button[type=submit]")
    refused = page.wait_text("#flash .error", "api_base refused", TRIED)
    assert "public endpoint" in refused
    assert llm.requests == []

    page.fill("#edit-tenant input[name=display_name]", "Acme, renamed by its admin")
    page.click("#edit-tenant button")
    page.wait_text("#tenant-title", "Acme, renamed by its admin")
    page.wait_text("#api-keys-table", f"spare key of {mine.tenant_id}")
    page.click("#rotate-secret")
    page.wait_text("#signing-secrets", "2 signing secret")
    rotated = page.text("#rotated-secret").split()[-1]
    page.screenshot(screenshots / "console-tenant-settings.png")
    page.click("#finish-rotation")
    page.wait_text("#signing-secrets", "1 signing secret")
    assert page.evaluate("document.querySelector('#rotated-secret')") is None

    shown = page.evaluate("document.body.innerText")
    assert not [m for m in theirs.markers if m in shown]
    assert not [url for url, body in page.responses() if rotated in body]
    finished(page, "#llm-form")
    assert_never_shown(page, LLM_KEY, f"sk-{mine.tenant_id}-llm")


def test_a_read_key_sees_its_settings_and_changes_nothing(
    page: Page, api_url: str, settings: Settings, db: Database, tenant_id: str
) -> None:
    mine = party(settings, db, tenant_id)
    sign_in(page, api_url, mine.read_token)
    page.goto(f"{api_url}/console/#/settings")
    page.wait_text("#llm-chain", "gpt-4o-mini → gpt-4o")
    page.wait_text("#api-keys", "An admin-scope key lists, makes and revokes keys")
    for form in ("#llm-form", "#itsm-form", "#create-key", "#budget-form", "#webhook-options"):
        assert page.evaluate(f"document.querySelector('{form}')") is None, form
    assert page.evaluate("document.querySelector('#triage-form button')") is None
    assert page.evaluate("document.querySelector('#rotate-secret')") is None


def test_per_version_charts_show_volume_success_times_cost_and_ratings(
    page: Page,
    api_url: str,
    settings: Settings,
    db: Database,
    tenant_id: str,
    redis_client: redis.Redis,
    screenshots: Path,
) -> None:
    mine = party(settings, db, tenant_id)
    with db.tenant(tenant_id) as conn:
        runs = [(1, "succeeded", 1000), (1, "succeeded", 3000), (1, "failed", 9000)]
        runs += [(2, "succeeded", 500), (2, "succeeded", 700)]
        for n, (version, status, ms) in enumerate(runs):
            conn.execute(
                "INSERT INTO enhancement_history (tenant_id, event_id, ticket_id, source, kind, "
                "status, attempts, timings, cost_usd, prompt_tokens, completion_tokens, "
                "agent_id, agent_version) VALUES (current_setting('app.current_tenant_id', "
                "true), %s, %s, 'servicedesk', 'created', %s, 1, %s, 0.002, 100, 40, "
                "'helper', %s)",
                (f"ev-chart-{n}", f"T-{n}", status, f'{{"total": {ms}}}', version),
            )
    for n, helpful in ((0, True), (1, False), (3, True)):
        rated = httpx.post(
            f"{api_url}/tenants/{tenant_id}/enhancements/ev-chart-{n}/feedback",
            json={"helpful": helpful},
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=10,
        )
        assert rated.status_code == 201, rated.text
    sign_in(page, api_url, mine.read_token)
    page.goto(f"{api_url}/console/#/agents/helper")
    charts = page.wait_text("#version-charts", "Technician ratings")

    for title in ("Volume", "Success rate", "Time per event", "Cost", "Tokens"):
        assert title in charts
    values = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#version-charts figure')].map(f => "
        "[f.querySelector('figcaption').innerText, [...f.querySelectorAll('rect.bar')]"
        ".map(r => (r.dataset.series || '') + '=' + r.dataset.value)]))"
    )
    # Versions newest first: v2, then v1.
    assert values["Volume (events)"] == ["Volume (events)=2", "Volume (events)=3"]
    assert values["Success rate"] == ["Success rate=1", "Success rate=0.6667"]
    assert values["Time per event"] == ["p50=0.6", "p50=3", "p95=0.69", "p95=8.4"]
    assert values["Technician ratings"] == [
        "helpful=1",
        "helpful=1",
        "not helpful=0",
        "not helpful=1",
    ]
    assert "v1 (active)" in charts and "v2 (inactive)" in charts
    page.screenshot(screenshots / "console-agent-charts.png")
