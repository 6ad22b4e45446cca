"""Our real Jira client against the Jira Service Management-shaped server, both flavors."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from aiops.errors import PermanentError, TransientError
from itsm.base import ItsmConnection
from itsm.http import RetryPolicy
from itsm.jira import JiraClient, render_comment
from tests.fakes.jira_server import JiraServer
from tests.fakes.loopback import free_port
from tests.itsm.jira_fixtures import load

EMAIL = "agent@acme.example"
TOKEN = "ATATT3xFfGF0-jira-token-0123456789"
ISSUE = load("dc_issue_created.json")["issue"]
KEY = ISSUE["key"]


@pytest.fixture(params=["cloud", "datacenter"])
def jira(request: pytest.FixtureRequest) -> Iterator[JiraServer]:
    with JiraServer(flavor=request.param, email=EMAIL, token=TOKEN) as server:
        server.add_issue(ISSUE)
        yield server


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


@pytest.fixture()
def sleeps() -> list[float]:
    return []


def make_client(
    jira: JiraServer,
    http: httpx.Client,
    sleeps: list[float],
    *,
    token: str = TOKEN,
    timeout: float = 5.0,
    attempts: int = 3,
) -> JiraClient:
    connection = ItsmConnection(
        base_url=jira.base_url + "/",
        api_key=token,
        flavor=jira.flavor,
        username=EMAIL,
        timeout_seconds=timeout,
    )
    return JiraClient(connection, http, RetryPolicy(attempts, 0.01, sleep=sleeps.append))


def _authorization(jira: JiraServer) -> str:
    if jira.flavor == "datacenter":
        return f"Bearer {TOKEN}"
    return "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()


def test_a_note_is_an_internal_servicedesk_comment_that_shows_as_written(
    jira: JiraServer, http: httpx.Client, sleeps: list[float]
) -> None:
    html = "<p>Re-push the *split-tunnel* profile [v7]</p><p><small>[AI Ops ref e1]</small></p>"
    note_id = make_client(jira, http, sleeps).add_note(KEY, html)
    [comment] = jira.comments(KEY)
    assert comment["id"] == note_id
    assert comment["public"] is False
    assert comment["via"] == "servicedeskapi"
    assert comment["body"] == render_comment(html)
    assert "\\*split-tunnel\\*" in comment["body"]  # not bold: literal asterisks
    assert sleeps == []


def test_find_note_finds_the_marker_in_internal_comments_only(
    jira: JiraServer, http: httpx.Client, sleeps: list[float]
) -> None:
    client = make_client(jira, http, sleeps)
    client.add_note(KEY, "<p>unrelated</p>")
    wanted = client.add_note(KEY, "<p>AI</p><p>[AI Ops ref e42]</p>")
    assert client.find_note(KEY, "[AI Ops ref e42]") == wanted
    assert client.find_note(KEY, "[AI Ops ref e4]") is None
    # A customer's public reply quoting a marker cannot stand in for our note.
    http.post(
        f"{jira.base_url}/rest/servicedeskapi/request/{KEY}/comment",
        json={"body": "[AI Ops ref e43]", "public": True},
        headers={"Authorization": _authorization(jira)},
    )
    assert client.find_note(KEY, "[AI Ops ref e43]") is None


def test_find_note_reads_every_page(
    jira: JiraServer, http: httpx.Client, sleeps: list[float]
) -> None:
    client = make_client(jira, http, sleeps)
    for n in range(150):
        client.add_note(KEY, f"<p>note {n}</p>")
    last = client.add_note(KEY, "<p>[AI Ops ref last]</p>")
    assert client.find_note(KEY, "[AI Ops ref last]") == last


def test_fetch_ticket_reads_the_flavors_issue_api(
    jira: JiraServer, http: httpx.Client, sleeps: list[float]
) -> None:
    ticket = make_client(jira, http, sleeps).fetch_ticket(KEY)
    assert ticket.id == KEY
    assert ticket.subject == "VPN drops every few minutes"
    assert "disconnects every ~5 minutes" in ticket.description


def test_429_is_retried_after_retry_after(
    jira: JiraServer, http: httpx.Client, sleeps: list[float]
) -> None:
    jira.retry_after_seconds = 2
    jira.fail_next(429)
    note_id = make_client(jira, http, sleeps).add_note(KEY, "<p>hello</p>")
    assert [c["id"] for c in jira.comments(KEY)] == [note_id]
    assert len(sleeps) == 1 and sleeps[0] >= 2


def test_5xx_until_attempts_run_out_is_transient(
    jira: JiraServer, http: httpx.Client, sleeps: list[float]
) -> None:
    jira.fail_next(500, 502, 503)
    with pytest.raises(TransientError, match="503"):
        make_client(jira, http, sleeps).add_note(KEY, "<p>hello</p>")
    assert jira.comments(KEY) == []
    assert len(sleeps) == 2


def test_a_dropped_answer_after_the_comment_landed_posts_once(
    jira: JiraServer, http: httpx.Client, sleeps: list[float]
) -> None:
    jira.crash_after_post = True
    note_id = make_client(jira, http, sleeps).add_note(KEY, "<p>slow Jira</p>")
    assert [c["id"] for c in jira.comments(KEY)] == [note_id]
    assert jira.comment_posts == 1


def test_a_timed_out_post_that_landed_is_not_posted_twice(
    jira: JiraServer, http: httpx.Client, sleeps: list[float]
) -> None:
    jira.comment_delay_seconds = 1.0
    make_client(jira, http, sleeps, timeout=0.2).add_note(KEY, "<p>slow</p>")
    assert jira.comment_posts == 1


def test_wrong_token_is_permanent_names_what_to_check_and_hides_the_token(
    jira: JiraServer, http: httpx.Client, sleeps: list[float]
) -> None:
    with pytest.raises(PermanentError, match="401") as caught:
        make_client(jira, http, sleeps, token="wrong-token-abc").add_note(KEY, "<p>x</p>")
    message = str(caught.value)
    assert ("API token" if jira.flavor == "cloud" else "personal access token") in message
    assert "wrong-token-abc" not in message and TOKEN not in message
    assert sleeps == [] and jira.comment_posts == 0


def test_403_says_the_account_must_be_an_agent(
    jira: JiraServer, http: httpx.Client, sleeps: list[float]
) -> None:
    jira.fail_next(403)
    with pytest.raises(PermanentError, match=r"403.*agent on the service project"):
        make_client(jira, http, sleeps).add_note(KEY, "<p>x</p>")
    assert sleeps == []


def test_an_issue_outside_a_service_project_is_permanent_404(
    jira: JiraServer, http: httpx.Client, sleeps: list[float]
) -> None:
    jira.add_issue({**ISSUE, "key": "DEV-1"}, service_project=False)
    with pytest.raises(PermanentError, match=r"404.*service project"):
        make_client(jira, http, sleeps).add_note("DEV-1", "<p>x</p>")
    assert jira.comments("DEV-1") == [] and sleeps == []


def test_cloud_without_an_email_is_refused_up_front(http: httpx.Client) -> None:
    connection = ItsmConnection(base_url="http://127.0.0.1:1", api_key=TOKEN, flavor="cloud")
    with pytest.raises(PermanentError, match="e-mail"):
        JiraClient(connection, http)
    with pytest.raises(PermanentError, match="flavor"):
        JiraClient(ItsmConnection("http://127.0.0.1:1", TOKEN, "onprem"), http)


def test_unreachable_jira_is_transient(http: httpx.Client, sleeps: list[float]) -> None:
    connection = ItsmConnection(f"http://127.0.0.1:{free_port()}", TOKEN, "datacenter")
    client = JiraClient(connection, http, RetryPolicy(2, 0.01, sleep=sleeps.append))
    with pytest.raises(TransientError, match="unreachable"):
        client.fetch_ticket(KEY)
    assert len(sleeps) == 1
