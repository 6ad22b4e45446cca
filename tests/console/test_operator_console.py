"""The operator's journeys through the web console in a real headless Chromium: sign in
with the admin token, read system health, register a tenant and rotate its secret, filter
the enhancement history, replay a dead letter. Everything goes through the real API."""

from __future__ import annotations

from pathlib import Path

import httpx
import redis
from fastapi.testclient import TestClient

from aiops.events import REPLAYED_FROM_FIELD, shard_for
from aiops.process_health import ComponentState, status_path, write_status
from aiops.settings import Settings
from api.app import create_app
from flows.metrics import FlowMetrics
from tests.api.test_system_routes import dead_letter, entries
from tests.api.two_tenants import Party, make_party
from tests.console.browser import Page
from tests.console.conftest import serving
from tests.fakes.loopback import free_port
from warehouse.db import Database
from warehouse.tenants import tenant_summary

ADMIN = "test-admin-token"


def sign_in(page: Page, api_url: str, token: str) -> None:
    page.goto(f"{api_url}/console/")
    page.fill("#signin input[name=token]", token)
    page.click("#signin button")
    page.wait_for(
        "document.querySelector('#sign-out') && !document.querySelector('#sign-out').hidden"
    )


def party(settings: Settings, db: Database, tenant_id: str) -> Party:
    with TestClient(create_app(settings)) as client:
        return make_party(client, {"Authorization": f"Bearer {ADMIN}"}, db, settings, tenant_id)


def test_the_console_is_served_offline_with_a_strict_policy(api_url: str) -> None:
    page = httpx.get(f"{api_url}/console/", timeout=10)
    script = httpx.get(f"{api_url}/console/js/app.js", timeout=10)

    assert page.status_code == 200 and 'src="js/app.js"' in page.text
    assert "https://" not in page.text and "http://" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert script.headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{api_url}/console", timeout=10).headers["location"] == "/console/"


def test_a_wrong_token_is_refused_and_the_admin_token_signs_in(
    page: Page, api_url: str, redis_client: redis.Redis
) -> None:
    page.goto(f"{api_url}/console/")
    page.fill("#signin input[name=token]", "not-the-token")
    page.click("#signin button")
    page.wait_text("#signin-error", "not valid")
    assert page.evaluate("sessionStorage.length") == 0

    sign_in(page, api_url, ADMIN)

    assert page.text("#who") == "operator (admin token)"
    nav = page.text("#nav")
    for section in ("Health", "Tenants", "History", "Dead letters"):
        assert section in nav
    page.wait_text("#system-status", "ready")
    assert "postgres" in page.text("#checks") and "redis" in page.text("#checks")
    # The token lives in this tab's sessionStorage only, and a reload keeps the session.
    assert page.evaluate("sessionStorage.getItem('aiops.console.token')") == ADMIN
    assert page.evaluate("localStorage.length") == 0
    page.goto(f"{api_url}/console/#/health")
    page.wait_text("#who", "operator")


def test_health_shows_each_process_queue_depth_over_time_and_failures(
    page: Page,
    settings: Settings,
    db: Database,
    redis_client: redis.Redis,
    tenant_id: str,
    screenshots: Path,
) -> None:
    metrics = FlowMetrics()
    port = free_port()
    metrics.serve(port, "127.0.0.1")
    shard = settings.stream_name(0)
    metrics.queue_depth(shard, 40)
    status = status_path(settings.state_dir)
    write_status(
        status,
        [
            ComponentState("redis", "running", 0),
            ComponentState("postgres", "running", 0),
            ComponentState("ingest", "running", 1, "exit code -9"),
            ComponentState("flow", "restarting", 3, "exit code 1"),
            ComponentState("api", "running", 0),
            ComponentState("dagster", "running", 0),
        ],
    )
    target = party(settings, db, tenant_id)
    with db.tenant(tenant_id) as conn:
        conn.execute(
            "UPDATE enhancement_history SET status = 'failed', error_kind = 'permanent', "
            "error = 'ServiceDesk Plus answered 401: the technician key was revoked'"
        )
    try:
        with serving(settings.model_copy(update={"flow_metrics_port": port})) as url:
            sign_in(page, url, ADMIN)
            page.wait_text("#system-status", "degraded")
            components = page.text("#components")
            page.wait_for("document.querySelectorAll('#queue-depth circle').length >= 1")
            for depth in (25, 12):
                metrics.queue_depth(shard, depth)
                page.evaluate("window.dispatchEvent(new HashChangeEvent('hashchange'))")
                page.wait_for(
                    f"[...document.querySelectorAll('#queue-depth circle')]"
                    f".some(c => c.dataset.value === '{depth}')"
                )
            failures = page.text("#recent-failures")
            page.screenshot(screenshots / "console-health.png")
    finally:
        status.unlink(missing_ok=True)
        metrics.stop()

    assert "flow\trestarting\t3\texit code 1" in components
    assert "technician key was revoked" in failures and target.ticket_id in failures


def test_registering_a_tenant_shows_its_urls_and_rotates_its_secret(
    page: Page, api_url: str, tenant_id: str, db: Database, redis_client: redis.Redis
) -> None:
    sign_in(page, api_url, ADMIN)
    page.goto(f"{api_url}/console/#/tenants")
    page.wait_for("!!document.querySelector('#register')")
    page.evaluate("document.querySelector('#register').open = true")
    page.fill("#create-tenant input[name=tenant_id]", tenant_id)
    page.fill("#create-tenant input[name=display_name]", "Acme Corp")
    page.click("#create-tenant button")

    secret = page.wait_text("#secret-once", "whsec_")
    page.wait_text("#tenants-table", tenant_id)
    urls = page.wait_text("#webhook-urls", f"tenant={tenant_id}")
    page.wait_text("#signing-secrets", "1 signing secret")
    page.click("#rotate-secret")
    page.wait_text("#signing-secrets", "2 signing secret")
    rotated = page.text("#rotated-secret")
    page.click("#finish-rotation")
    page.wait_text("#signing-secrets", "1 signing secret")

    assert "/webhook/servicedesk" in urls
    assert secret.split()[-1] != rotated.split()[-1]
    summary = tenant_summary(db, tenant_id)
    assert summary is not None and summary.display_name == "Acme Corp"
    page.fill("#edit-tenant input[name=display_name]", "Acme Corporation")
    page.click("#edit-tenant button")
    page.wait_text("#tenants-table", "Acme Corporation")


def test_history_filters_and_shows_an_events_note_and_charts(
    page: Page,
    api_url: str,
    settings: Settings,
    db: Database,
    tenant_id: str,
    redis_client: redis.Redis,
) -> None:
    target = party(settings, db, tenant_id)
    with db.tenant(tenant_id) as conn:
        conn.execute(
            "UPDATE enhancement_history SET output = 'Restart the spooler on PRN-2' "
            "WHERE event_id = %s",
            (target.event_id,),
        )
    with TestClient(create_app(settings)) as client:
        rated = client.post(
            f"/tenants/{tenant_id}/enhancements/{target.event_id}/feedback",
            json={"helpful": False, "comment": "wrong printer", "technician": "sam"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
    assert rated.status_code == 201, rated.text
    sign_in(page, api_url, ADMIN)
    page.goto(f"{api_url}/console/#/history")
    page.wait_for("!!document.querySelector('#history-tenant')")
    page.evaluate(f"document.querySelector('#history-tenant').value = '{tenant_id}'")
    page.fill("#history-filters select[name=status]", "failed")
    page.click("#history-filters button")
    page.wait_text("#history-results", "No enhancement matches")

    page.fill("#history-filters select[name=status]", "succeeded")
    page.fill("#history-filters input[name=ticket_id]", target.ticket_id)
    page.click("#history-filters button")
    page.wait_text("#history-table", target.event_id)
    # The charts sit above the table: once drawn, the row is where the click lands.
    charts = page.wait_text("#daily-charts", "Success rate")
    assert "Enhancements per day" in charts and "Processing time" in charts
    assert page.evaluate("document.querySelectorAll('#daily-charts rect.bar').length") == 1
    page.click("#history-table tbody tr")

    assert "Restart the spooler on PRN-2" in page.wait_text("#event-note", "spooler")
    ratings = page.wait_text("#event-ratings", "wrong printer")
    assert "not helpful" in ratings and "sam" in ratings


def test_a_dead_letter_is_replayed_from_the_console(
    page: Page,
    api_url: str,
    settings: Settings,
    redis_client: redis.Redis,
    tenant_id: str,
    screenshots: Path,
) -> None:
    entry = dead_letter(redis_client, settings, tenant_id, "ev-dead", ticket="T-77")
    sign_in(page, api_url, ADMIN)
    page.wait_text("#dead-letter-count", "1 waiting")
    page.goto(f"{api_url}/console/#/dead-letters")
    listed = page.wait_text("#dead-letters", entry)
    assert "T-77" in listed and "401 Unauthorized" in listed

    page.click(f"button.replay[data-entry='{entry}']")

    page.wait_text("#flash", f"Replayed {entry}")
    page.wait_text("#dead-letter-total", "0 dead letter")
    stream = settings.stream_name(shard_for(tenant_id, settings.stream_shards))
    [(_, fields)] = entries(redis_client, stream)
    assert fields[REPLAYED_FROM_FIELD] == entry
    assert redis_client.xlen(settings.dead_letter_stream) == 0

    for n in range(3):
        dead_letter(redis_client, settings, tenant_id, f"ev-more-{n}")
    page.goto(f"{api_url}/console/#/health")
    page.wait_text("#dead-letter-count", "3 waiting")
    page.goto(f"{api_url}/console/#/dead-letters")
    page.click("#replay-all")
    page.wait_text("#flash", "Replayed 3 dead letters")
    page.wait_text("#dead-letter-total", "0 dead letter")
    assert len(entries(redis_client, stream)) == 4
