"""The agent lifecycle through the management API, against the real PostgreSQL and the SDP
stand-in: define, sandbox (no side effect), test cases, deploy with the test gate, rollback,
feedback through the note's link."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from aiops.crypto import SecretBox
from aiops.events import Ticket
from aiops.feedback_token import make_token
from tests.fakes.openai_server import OpenAiServer
from tests.fakes.sdp_server import SdpServer
from tests.flows.conftest import SDP_KEY, add_tenant, seed
from tests.flows.events import TRACED_STAGES
from warehouse import agent_runs, api_keys
from warehouse.agent_runs import RunRecord
from warehouse.db import Database
from warehouse.knowledge import Article

VPN_TICKET = {
    "id": "4711",
    "subject": "VPN drops every hour on SQL01",
    "description": "Users on host SQL01 lose the VPN tunnel hourly. password=hunter2",
    "category": "Network",
    "priority": "High",
}
ARTICLES = [
    Article("KB-101", "VPN tunnel drops hourly", "Raise the IKE lifetime to 8 hours."),
    Article("KB-202", "Printer offline", "Power-cycle the printer and re-add it."),
    Article("KB-303", "Installing the client", "Download the client from the portal. VPN"),
]
HISTORY = [
    Ticket(id="900", subject="VPN tunnel drops every hour", resolution="Raised the IKE lifetime."),
    Ticket(id="901", subject="Printer jams on floor 2, VPN users too", resolution="New tray."),
]
SPEC: dict[str, Any] = {
    "instructions": "Always name the affected host first.",
    "sources": {"similar_tickets": 3, "kb_articles": 2},
    "note": {"sections": ["Likely cause", "Next steps"], "max_chars": 1500, "language": "en"},
}


@pytest.fixture()
def sdp() -> Iterator[SdpServer]:
    with SdpServer(flavor="onprem", api_key=SDP_KEY) as server:
        yield server


@pytest.fixture()
def tenant(db: Database, box: SecretBox, tenant_id: str, sdp: SdpServer) -> str:
    add_tenant(
        db, box, tenant_id, itsm_base_url=sdp.base_url, itsm_flavor="onprem", itsm_api_key=SDP_KEY
    )
    seed(db, tenant_id, articles=ARTICLES)
    return tenant_id


def _agent(client: TestClient, auth: dict[str, str], tenant: str, spec: dict[str, Any]) -> None:
    made = client.post(
        f"/tenants/{tenant}/agents",
        json={"agent_id": "vpn", "name": "VPN", "spec": spec},
        headers=auth,
    )
    assert made.status_code == 201, made.text
    assert made.json()["latest_version"] == 1 and made.json()["active_version"] is None


def _history_rows(db: Database, tenant: str) -> int:
    with db.tenant(tenant) as conn:
        row = conn.execute("SELECT count(*) AS n FROM enhancement_history").fetchone()
    assert row is not None
    return int(row["n"])


def test_sandbox_answers_the_full_trace_and_touches_nothing(
    client: TestClient, auth: dict[str, str], db: Database, tenant: str, sdp: SdpServer
) -> None:
    _agent(client, auth, tenant, SPEC)
    answer = client.post(
        f"/tenants/{tenant}/agents/vpn/versions/1/sandbox",
        json={"ticket": VPN_TICKET},
        headers=auth,
    )
    assert answer.status_code == 200, answer.text
    run = answer.json()
    assert run["status"] == "succeeded", run["error"]
    names = [s["name"] for s in run["stages"]]
    # Production's stages, in its order (flows.process), with the sources of the gather.
    assert names == TRACED_STAGES
    stages = {s["name"]: s for s in run["stages"]}
    assert "hunter2" not in str(stages["mask"]["output"])
    kb = stages["kb_articles"]
    assert kb["input"]["k"] == 2 and "VPN" in kb["input"]["query"]
    assert kb["output"]["kept"][0]["article_id"] == "KB-101"
    assert all("score" in a for a in kb["output"]["kept"])
    system = stages["prompt"]["output"]["messages"][0]["content"]
    assert "<<<TENANT_INSTRUCTIONS>>>\nAlways name the affected host first." in system
    assert "Likely cause; Next steps" in system
    assert stages["model"]["output"]["attempts"][0]["outcome"] == "offline"
    assert "KB-101" in run["note"] and run["note"] == stages["note"]["output"]["note"]
    # No side effect: nothing posted, no production row; the run itself is kept.
    assert sdp.note_posts == 0 and sdp.notes("4711") == []
    assert _history_rows(db, tenant) == 0
    stored = client.get(f"/tenants/{tenant}/agents/vpn/runs/{run['run_id']}", headers=auth)
    assert stored.status_code == 200 and stored.json()["stages"] == run["stages"]


def test_min_relevance_drops_items_and_says_why(
    client: TestClient, auth: dict[str, str], db: Database, tenant: str
) -> None:
    """The floor is on similar tickets' closeness (0..1); KB scores are BM25's, unbounded."""
    seed(db, tenant, history=HISTORY)
    _agent(client, auth, tenant, {**SPEC, "min_relevance": 0.0})
    floor = {**SPEC, "min_relevance": 0.9}
    client.post(f"/tenants/{tenant}/agents/vpn/versions", json={"spec": floor}, headers=auth)

    def similar_stage(version: int) -> dict[str, Any]:
        run = client.post(
            f"/tenants/{tenant}/agents/vpn/versions/{version}/sandbox",
            json={"ticket": VPN_TICKET},
            headers=auth,
        ).json()
        return dict(next(s for s in run["stages"] if s["name"] == "similar_tickets"))

    everything = similar_stage(1)["output"]
    assert everything["dropped"] == [] and len(everything["kept"]) == 2
    filtered = similar_stage(2)["output"]
    assert filtered["dropped"], "the weaker match falls below the floor"
    assert all(t["score"] >= 0.9 for t in filtered["kept"])
    for item in filtered["dropped"]:
        assert item["score"] < 0.9 and "below min_relevance 0.9" in item["reason"]
    ids = sorted(t["ticket_id"] for t in filtered["kept"] + filtered["dropped"])
    assert ids == sorted(t["ticket_id"] for t in everything["kept"])


def _case(
    client: TestClient, auth: dict[str, str], tenant: str, version: int, expect: list[Any]
) -> dict[str, Any]:
    made = client.post(
        f"/tenants/{tenant}/agents/vpn/versions/{version}/test-cases",
        json={"name": "vpn drop", "ticket": VPN_TICKET, "expectations": expect},
        headers=auth,
    )
    assert made.status_code == 201, made.text
    assert "hunter2" not in made.text  # a pasted credential is masked before it is stored
    return dict(made.json())


def test_a_failing_test_case_blocks_activation_until_overridden(
    client: TestClient, auth: dict[str, str], tenant: str
) -> None:
    _agent(client, auth, tenant, SPEC)
    _case(client, auth, tenant, 1, [{"kind": "cites", "value": "KB-101"}])
    _case(client, auth, tenant, 1, [{"kind": "cites", "value": "KB-999"}])
    results = client.post(f"/tenants/{tenant}/agents/vpn/versions/1/test-runs", headers=auth)
    body = results.json()
    assert (body["total"], body["failed"], body["passed"]) == (2, 1, False)
    assert [r["passed"] for r in body["results"]] == [True, False]
    assert body["results"][1]["failures"] == ["the note does not cite KB-999"]
    assert body["results"][1]["stages"], "each case comes with its trace"

    refused = client.post(f"/tenants/{tenant}/agents/vpn/versions/1/activate", headers=auth)
    assert refused.status_code == 409 and "KB-999" in refused.json()["detail"]
    assert (
        client.get(f"/tenants/{tenant}/agents/vpn", headers=auth).json()["active_version"] is None
    )

    forced = client.post(
        f"/tenants/{tenant}/agents/vpn/versions/1/activate",
        json={"override_reason": "KB-999 is being written"},
        headers=auth,
    )
    assert forced.status_code == 200, forced.text
    made = forced.json()
    assert made["overridden"] and made["actor"] == "platform-admin"
    assert (made["tests_passed"], made["tests_total"]) == (1, 2)
    assert made["reason"] == "KB-999 is being written"


def test_activate_and_roll_back_in_one_call(
    client: TestClient, auth: dict[str, str], tenant: str
) -> None:
    _agent(client, auth, tenant, SPEC)
    second = client.post(
        f"/tenants/{tenant}/agents/vpn/versions",
        json={"spec": {**SPEC, "instructions": "Be brief."}, "comment": "shorter"},
        headers=auth,
    )
    assert second.status_code == 201 and second.json()["version"] == 2
    for version in (1, 2):
        done = client.post(
            f"/tenants/{tenant}/agents/vpn/versions/{version}/activate", headers=auth
        )
        assert done.status_code == 200, done.text
    agent = client.get(f"/tenants/{tenant}/agents/vpn", headers=auth).json()
    assert (agent["active_version"], agent["previous_version"]) == (2, 1)
    back = client.post(
        f"/tenants/{tenant}/agents/vpn/rollback", json={"reason": "worse"}, headers=auth
    )
    assert back.status_code == 200 and back.json()["version"] == 1
    agent = client.get(f"/tenants/{tenant}/agents/vpn", headers=auth).json()
    assert (agent["active_version"], agent["previous_version"]) == (1, 2)
    actions = [
        d["action"]
        for d in client.get(f"/tenants/{tenant}/agents/vpn/deployments", headers=auth).json()
    ]
    assert actions == ["rollback", "activate", "activate"]


def test_versions_are_immutable(
    db: Database, client: TestClient, auth: dict[str, str], tenant: str
) -> None:
    _agent(client, auth, tenant, SPEC)
    refused = pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"immutable")
    with refused, db.tenant(tenant) as conn:
        conn.execute("UPDATE agent_versions SET comment = 'changed'")


def test_rating_link_needs_no_key_and_rates_only_its_note(
    client: TestClient, auth: dict[str, str], db: Database, box: SecretBox, tenant: str
) -> None:
    with db.tenant(tenant) as conn:
        conn.execute(
            "INSERT INTO enhancement_history (tenant_id, event_id, ticket_id, source, kind, "
            "status, agent_id, agent_version) VALUES (%s, 'ev-1', '4711', 'servicedesk', "
            "'created', 'succeeded', 'default', 0)",
            (tenant,),
        )
    link = client.get(f"/tenants/{tenant}/enhancements/ev-1/feedback-link", headers=auth).json()
    token = make_token(box, tenant, "ev-1")
    assert link["url"].endswith(f"/feedback/{token}")
    page = client.get(f"/feedback/{token}")
    assert page.status_code == 200 and "4711" in page.text
    rated = client.post(
        f"/feedback/{token}",
        content="helpful=no&comment=wrong+host",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert rated.status_code == 201
    forged = client.post(f"/feedback/{token[:-2]}xx", json={"helpful": True})
    assert forged.status_code == 404
    rows = client.get(f"/tenants/{tenant}/enhancements/ev-1/feedback", headers=auth).json()
    assert [(r["helpful"], r["comment"], r["via"], r["agent_version"]) for r in rows] == [
        (False, "wrong host", "link", 0)
    ]


def test_a_read_key_cannot_change_agents(client: TestClient, db: Database, tenant: str) -> None:
    with db.tenant(tenant) as conn:
        made = api_keys.create_key(conn, "reader", "read")
    reader = {"Authorization": f"Bearer {made.token}"}
    refused = client.post(
        f"/tenants/{tenant}/agents", json={"agent_id": "x", "name": "x"}, headers=reader
    )
    assert refused.status_code == 403
    assert client.get(f"/tenants/{tenant}/agents", headers=reader).json() == []


def test_sandbox_spend_counts_against_the_budget_and_an_exhausted_one_is_respected(
    client: TestClient, auth: dict[str, str], db: Database, box: SecretBox, tenant_id: str
) -> None:
    with OpenAiServer("sk-sandbox") as llm:
        add_tenant(
            db,
            box,
            tenant_id,
            llm_model="openai/primary",
            llm_api_base=llm.base_url,
            llm_api_key="sk-sandbox",
        )
        _agent(client, auth, tenant_id, SPEC)
        with db.tenant(tenant_id) as conn:
            agent_runs.store(
                conn,
                RunRecord("paid", "vpn", 1, "sandbox", "T", "succeeded", 1.0, cost_usd=0.75),
            )
        budget = client.get(f"/tenants/{tenant_id}/llm/budget", headers=auth).json()
        assert budget["spent_this_month_usd"] == 0.75

        url = f"/tenants/{tenant_id}/agents/vpn/versions/1/sandbox"
        asked = client.post(url, json={"ticket": VPN_TICKET}, headers=auth).json()
        assert asked["synthesizer"] == "litellm" and len(llm.requests) == 1

        limited = client.put(
            f"/tenants/{tenant_id}/llm/budget", json={"monthly_usd": 0.5}, headers=auth
        )
        assert limited.status_code == 200 and limited.json()["state"] == "exhausted"
        offline = client.post(url, json={"ticket": VPN_TICKET}, headers=auth).json()
    assert offline["synthesizer"] == "offline" and "budget is used up" in offline["note"]
    assert len(llm.requests) == 1
