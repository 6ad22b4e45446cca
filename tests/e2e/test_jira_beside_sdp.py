"""A Jira Service Management tenant beside a ServiceDesk Plus tenant in one running
`aiops up`: Jira webhooks become internal comments drafted with the tenant's imported
history; comments and our own note coming back make nothing; the flow is SIGKILLed while
a comment is being posted, and every issue still ends with exactly one comment.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from secrets import token_hex
from typing import Any

import httpx
import pytest

from itsm.jira.text import unescape_wiki
from tests.e2e import test_running_system as running
from tests.e2e.test_running_system import (
    ENHANCE_SECONDS,
    RESTART_SECONDS,
    System,
    _flow_pid,
    _log_files,
    _log_on_failure,
    _processes_of,
    _until,
)
from tests.fakes.jira_server import JiraServer
from tests.fakes.openai_server import OpenAiServer
from tests.fakes.sdp_server import SdpServer
from tests.ingest import jira as jira_hooks
from tests.ingest import sdp
from tests.itsm.jira_fixtures import load

pytestmark = pytest.mark.e2e

# The running system and the LLM stand-in, as the ServiceDesk Plus end-to-end test has them.
system = running.system
llm = running.llm

JIRA_FIX = "Re-issued the Intune compliance policy ORCA-5512 and forced a device sync"
SUBJECT = "Laptop marked non-compliant, no Outlook access"
EMAIL = "agent@globex.example"


@pytest.fixture()
def jira() -> Iterator[JiraServer]:
    with JiraServer(flavor="cloud", email=EMAIL, token=f"ATATT-e2e-{token_hex(16)}") as server:
        yield server


@pytest.fixture()
def servicedesk() -> Iterator[SdpServer]:
    with SdpServer(flavor="onprem", api_key=f"sdp-e2e-{token_hex(16)}") as server:
        yield server


def _jira_history(folder: Path) -> Path:
    path = folder / "jira_export.csv"
    path.write_text(
        "Summary,Issue key,Issue id,Status,Resolution,Created,Resolved,Description,Comment\n"
        f'"{SUBJECT} after update",HELP-1,10001,Resolved,Done,01/Oct/24 9:00 AM,'
        f'01/Oct/24 11:00 AM,"Device shows *non-compliant*, Outlook blocked.",'
        f'"01/Oct/24 11:00 AM;712020:abc;{JIRA_FIX}."\n'
        "Printer jams,HELP-2,10002,Resolved,Fixed,02/Oct/24 9:00 AM,02/Oct/24 10:00 AM,"
        'Tray 2,"02/Oct/24 10:00 AM;712020:abc;Replaced the roller."\n'
    )
    return path


def _issue_body(key: str, event: str = "jira:issue_created") -> dict[str, Any]:
    body = copy.deepcopy(load("dc_issue_created.json"))
    body["webhookEvent"] = event
    body["issue"]["key"] = key
    body["issue"]["id"] = key.split("-")[1]
    body["issue"]["fields"]["summary"] = SUBJECT
    body["issue"]["fields"]["description"] = "Since the update my laptop is *non-compliant*."
    return body


def _post_jira(url: str, secret: str, body: dict[str, Any], delivery: str) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    response = httpx.post(
        url, content=raw, headers=jira_hooks.headers(raw, secret, delivery), timeout=10
    )
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _comment_counts(jira: JiraServer, keys: list[str]) -> dict[str, int]:
    return {key: len(jira.comments(key)) for key in keys}


def _statuses(system: System, tenant: str) -> dict[str, str]:
    response = httpx.get(
        f"{system.api}/tenants/{tenant}/enhancements",
        params={"limit": 100},
        headers=system.admin(),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return {row["event_id"]: row["status"] for row in response.json()}


def test_a_jira_tenant_beside_a_servicedesk_tenant_gets_one_internal_comment_per_issue(
    system: System,
    llm: OpenAiServer,
    jira: JiraServer,
    servicedesk: SdpServer,
    tmp_path: Path,
) -> None:
    with _log_on_failure(system):
        sdp_created = system.aiops(
            "tenants", "create", "acme", "--name", "Acme Corp",
            "--servicedesk-url", servicedesk.base_url,
            "--servicedesk-key", servicedesk.api_key,
        )  # fmt: skip
        sdp_secret = sdp_created.split("Signing secret", 1)[1].splitlines()[1].strip()
        sdp_url = re.search(r"new requests:\s+(\S+)", sdp_created)
        assert sdp_url is not None
        # The Jira tenant through the management API (a token cannot be typed here).
        jira_secret = "whsec_" + token_hex(24)
        made = httpx.post(
            f"{system.api}/tenants",
            json={
                "tenant_id": "globex",
                "display_name": "Globex on Jira",
                "itsm_source": "jira",
                "itsm_base_url": jira.base_url,
                "itsm_flavor": "cloud",
                "itsm_username": EMAIL,
                "itsm_api_key": jira.token,
                "webhook_secret": jira_secret,
            },
            headers=system.admin(),
            timeout=10,
        )
        assert made.status_code == 201, made.text
        jira_url = made.json()["webhook_urls"]["tickets"]
        assert jira_url.startswith(f"{system.ingest}/webhook/jira?tenant=globex")
        system.aiops("history", "import", str(_jira_history(tmp_path)), "--tenant", "globex")

        keys = [f"HELP-{n}" for n in range(101, 109)]
        for key in keys:
            jira.add_issue(_issue_body(key)["issue"])
        events: dict[str, str] = {}
        for key in keys[:3]:
            events[key] = _post_jira(jira_url, jira_secret, _issue_body(key), f"wh-{key}")[
                "event_id"
            ]
        # The SDP tenant works beside it.
        servicedesk.add_request(sdp.request_object("7001", subject="VPN drops"))
        raw = sdp.body("7001", subject="VPN drops")
        sdp_answer = httpx.post(
            sdp_url.group(1),
            content=raw,
            headers=sdp.headers(raw, sdp_secret, delivery_id="sdp-7001"),
            timeout=10,
        )
        assert sdp_answer.status_code == 202, sdp_answer.text

        _until(
            "an internal comment on each of the first issues",
            lambda: all(n >= 1 for n in _comment_counts(jira, keys[:3]).values()),
            ENHANCE_SECONDS,
        )
        _until("the ServiceDesk Plus note", lambda: len(servicedesk.notes("7001")) == 1, 60)
        jira_prompts = [str(r["messages"]) for r in llm.requests if SUBJECT in str(r["messages"])]
        assert jira_prompts and all(JIRA_FIX in p for p in jira_prompts), jira_prompts[:1]
        for key in keys[:3]:
            (comment,) = jira.comments(key)
            assert comment["public"] is False and comment["via"] == "servicedeskapi"
            assert f"[AI Ops ref {events[key]}]" in unescape_wiki(comment["body"])

        # Our own comment coming back, and a customer's reply: 202, nothing more.
        (ours,) = jira.comments(keys[0])
        echo = load("cloud_own_comment_created.json")
        echo["comment"]["body"] = ours["body"]
        echo["issue"]["key"] = keys[0]
        assert _post_jira(jira_url, jira_secret, echo, "wh-echo")["ignored"] is True
        reply = load("dc_issue_commented_legacy.json")
        reply["issue"]["key"] = keys[1]
        assert _post_jira(jira_url, jira_secret, reply, "wh-reply")["ignored"] is True

        # The flow dies while Jira holds a comment whose answer is still on its way.
        first_flow = _flow_pid(system.state)
        assert first_flow is not None, _processes_of(system.state)
        jira.comment_delay_seconds = 5.0
        for key in keys[3:6]:
            events[key] = _post_jira(jira_url, jira_secret, _issue_body(key), f"wh-{key}")[
                "event_id"
            ]
        _until(
            "a comment stored while its answer is pending",
            lambda: any(_comment_counts(jira, keys[3:6]).values()),
            ENHANCE_SECONDS,
        )
        os.kill(first_flow, signal.SIGKILL)
        jira.comment_delay_seconds = 0.0
        for key in keys[6:]:
            events[key] = _post_jira(jira_url, jira_secret, _issue_body(key), f"wh-{key}")[
                "event_id"
            ]
        redelivered = _post_jira(jira_url, jira_secret, _issue_body(keys[0]), f"wh-{keys[0]}")
        assert redelivered["duplicate"] is True

        _until(
            "the flow restarted by the supervisor",
            lambda: _flow_pid(system.state) not in (None, first_flow),
            RESTART_SECONDS,
        )
        _until(
            "every Jira enhancement recorded as succeeded",
            lambda: all(_statuses(system, "globex").get(events[k]) == "succeeded" for k in keys),
            ENHANCE_SECONDS,
        )
        for _ in range(8):
            assert _comment_counts(jira, keys) == {key: 1 for key in keys}
            time.sleep(0.25)
        for key in keys:
            (comment,) = jira.comments(key)
            assert comment["public"] is False
            assert f"[AI Ops ref {events[key]}]" in unescape_wiki(comment["body"])
        assert len(servicedesk.notes("7001")) == 1
        assert _statuses(system, "acme") == {"sdp-7001": "succeeded"}

        system.process.send_signal(signal.SIGINT)
        assert system.process.wait(timeout=60) == 0
        used = {"Jira API token": jira.token, "Jira webhook secret": jira_secret}
        leaks = [
            f"the {what} is in {path}"
            for path in _log_files(system)
            for what, value in used.items()
            if value.encode() in path.read_bytes()
        ]
        assert not leaks, leaks
