"""Our real ServiceNow client against the Table API-shaped server, basic and OAuth."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from aiops.errors import PermanentError, TransientError
from flows.writeback import marker, render_note_html
from itsm.http import RetryPolicy
from itsm.servicenow import ServiceNowClient, ServiceNowSettings
from itsm.servicenow.client import TokenCache
from tests.conftest import FIXTURES
from tests.fakes.servicenow_server import ServiceNowServer

USER = "aiops.integration"
PASSWORD = "sn-password-5b1e9d"
CLIENT_ID = "sn-client-id-77aa"
CLIENT_SECRET = "sn-client-secret-02ff"
INCIDENT: dict[str, Any] = json.loads(
    (FIXTURES / "itsm" / "servicenow_table_get_incident_response.json").read_text()
)["result"]
SYS_ID = INCIDENT["sys_id"]


@pytest.fixture()
def sn() -> Iterator[ServiceNowServer]:
    with ServiceNowServer(
        username=USER, password=PASSWORD, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    ) as server:
        server.add_record("incident", INCIDENT)
        yield server


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


@pytest.fixture()
def sleeps() -> list[float]:
    return []


def make_client(
    sn: ServiceNowServer,
    http: httpx.Client,
    sleeps: list[float],
    *,
    auth: str = "basic",
    password: str = PASSWORD,
    table: str = "incident",
    tokens: TokenCache | None = None,
    attempts: int = 3,
    timeout: float = 5.0,
) -> ServiceNowClient:
    settings = ServiceNowSettings(
        sn.base_url,
        USER,
        password,
        table=table,
        auth=auth,  # type: ignore[arg-type]
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        timeout_seconds=timeout,
    )
    return ServiceNowClient(
        settings, http, RetryPolicy(attempts, 0.01, sleep=sleeps.append), tokens=tokens
    )


@pytest.mark.parametrize("auth", ["basic", "oauth"])
def test_a_note_is_a_work_note_never_a_comment(
    sn: ServiceNowServer, http: httpx.Client, sleeps: list[float], auth: str
) -> None:
    client = make_client(sn, http, sleeps, auth=auth)
    note_marker = marker("evt-1")
    note_id = client.add_note(SYS_ID, render_note_html("Check the <VPN> profile.", note_marker))
    [entry] = sn.journal(SYS_ID)
    assert entry["element"] == "work_notes" and entry["sys_id"] == note_id
    # Plain text: a journal field shows HTML tags literally.
    assert entry["value"] == f"Check the <VPN> profile.\n\n{note_marker}"
    patches = [r for r in sn.received if r.method == "PATCH"]
    assert [json.loads(r.body) for r in patches] == [{"work_notes": entry["value"]}]
    assert client.find_note(SYS_ID, note_marker) == note_id
    assert client.find_note(SYS_ID, marker("evt-10")) is None


def test_oauth_fetches_one_token_and_shares_it(
    sn: ServiceNowServer, http: httpx.Client, sleeps: list[float]
) -> None:
    tokens = TokenCache()
    first = make_client(sn, http, sleeps, auth="oauth", tokens=tokens)
    second = make_client(sn, http, sleeps, auth="oauth", tokens=tokens)
    first.check_credentials()
    second.fetch_ticket(SYS_ID)
    assert sn.token_requests == 1
    token_posts = [r for r in sn.received if r.path == "/oauth_token.do"]
    form = dict(pair.split("=", 1) for pair in token_posts[0].body.decode().split("&"))
    assert form["grant_type"] == "password" and form["client_id"] == CLIENT_ID


def test_a_revoked_token_is_replaced_once(
    sn: ServiceNowServer, http: httpx.Client, sleeps: list[float]
) -> None:
    client = make_client(sn, http, sleeps, auth="oauth")
    client.check_credentials()
    sn.revoke_tokens()
    assert client.fetch_ticket(SYS_ID).id == SYS_ID
    assert sn.token_requests == 2


def test_bad_oauth_credentials_fail_fast_without_the_secret(
    sn: ServiceNowServer, http: httpx.Client, sleeps: list[float]
) -> None:
    with pytest.raises(PermanentError, match=r"oauth_token\.do") as caught:
        make_client(
            sn, http, sleeps, auth="oauth", password="wrong-" + PASSWORD
        ).check_credentials()
    assert PASSWORD not in str(caught.value) and CLIENT_SECRET not in str(caught.value)
    assert sleeps == []


def test_bad_basic_credentials_fail_fast(
    sn: ServiceNowServer, http: httpx.Client, sleeps: list[float]
) -> None:
    with pytest.raises(PermanentError, match="401") as caught:
        make_client(sn, http, sleeps, password="wrong").check_credentials()
    assert "wrong" not in str(caught.value)
    assert sleeps == []


def test_fetch_ticket_reads_the_record(
    sn: ServiceNowServer, http: httpx.Client, sleeps: list[float]
) -> None:
    ticket = make_client(sn, http, sleeps).fetch_ticket(SYS_ID)
    assert (ticket.id, ticket.subject) == (SYS_ID, "Can't access SFA software")
    [read] = [r for r in sn.received if r.method == "GET"]
    assert read.path == f"/api/now/table/incident/{SYS_ID}"
    assert "sysparm_display_value=all" in read.query


def test_the_tenants_table_is_used(
    sn: ServiceNowServer, http: httpx.Client, sleeps: list[float]
) -> None:
    sn.add_record("sc_req_item", {"sys_id": "ab" * 16, "short_description": "New laptop"})
    client = make_client(sn, http, sleeps, table="sc_req_item")
    assert client.fetch_ticket("ab" * 16).subject == "New laptop"
    client.add_note("ab" * 16, "<p>Order the finance image.</p>")
    assert [e["name"] for e in sn.journal("ab" * 16)] == ["sc_req_item"]


def test_an_unknown_table_is_refused(http: httpx.Client) -> None:
    with pytest.raises(PermanentError, match="table must be one of"):
        ServiceNowClient(
            ServiceNowSettings("http://127.0.0.1:9", USER, "x", table="sys_user"), http
        )


def test_429_is_retried_after_the_rate_limit_rules_retry_after(
    sn: ServiceNowServer, http: httpx.Client, sleeps: list[float]
) -> None:
    sn.retry_after_seconds = 2
    sn.fail_next(429)
    make_client(sn, http, sleeps).add_note(SYS_ID, "<p>x</p>")
    assert len(sn.journal(SYS_ID)) == 1
    assert sleeps and sleeps[0] >= 2


def test_5xx_until_attempts_run_out_is_transient(
    sn: ServiceNowServer, http: httpx.Client, sleeps: list[float]
) -> None:
    sn.fail_next(503, 503, 503)
    with pytest.raises(TransientError, match="503"):
        make_client(sn, http, sleeps).add_note(SYS_ID, "<p>x</p>")
    assert sn.journal(SYS_ID) == []


def test_a_dropped_patch_that_landed_is_not_noted_twice(
    sn: ServiceNowServer, http: httpx.Client, sleeps: list[float]
) -> None:
    sn.drop_after_store = True
    note_id = make_client(sn, http, sleeps).add_note(SYS_ID, "<p>Restart the spooler.</p>")
    [entry] = sn.journal(SYS_ID)
    assert entry["sys_id"] == note_id


def test_a_timed_out_patch_that_landed_is_not_noted_twice(
    sn: ServiceNowServer, http: httpx.Client, sleeps: list[float]
) -> None:
    sn.note_delay_seconds = 0.5
    # The PATCH times out after storing; the retry finds that work note instead of adding one.
    note_id = make_client(sn, http, sleeps, timeout=0.2).add_note(SYS_ID, "<p>Slow.</p>")
    [entry] = sn.journal(SYS_ID)
    assert entry["sys_id"] == note_id
    assert len([r for r in sn.received if r.method == "PATCH"]) == 1


def test_an_unknown_record_is_permanent(
    sn: ServiceNowServer, http: httpx.Client, sleeps: list[float]
) -> None:
    with pytest.raises(PermanentError, match="404"):
        make_client(sn, http, sleeps).fetch_ticket("f" * 32)
    assert sleeps == []


def test_an_unreachable_instance_is_transient(http: httpx.Client, sleeps: list[float]) -> None:
    settings = ServiceNowSettings("http://127.0.0.1:9", USER, PASSWORD)
    client = ServiceNowClient(settings, http, RetryPolicy(2, 0.01, sleep=sleeps.append))
    with pytest.raises(TransientError, match="unreachable"):
        client.fetch_ticket(SYS_ID)
