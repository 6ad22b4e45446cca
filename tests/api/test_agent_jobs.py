"""The API hands sandbox runs, test-case runs and gated activations to the sandbox worker:
no worker gives a clear 503, a slow one a 202 with the job to poll; the deploy gate holds
on the worker's side too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from aiops.crypto import SecretBox
from aiops.settings import Settings
from api.app import create_app
from tests.flows.conftest import add_tenant
from warehouse.db import Database

TICKET = {"id": "4711", "subject": "VPN drops every hour on SQL01", "category": "Network"}


@pytest.fixture()
def tenant(db: Database, box: SecretBox, tenant_id: str) -> str:
    add_tenant(db, box, tenant_id)
    return tenant_id


@pytest.fixture()
def unwaiting(
    settings: Settings, redis_client: redis.Redis, sandbox_worker: None
) -> Iterator[TestClient]:
    """The app with a worker, answering at once instead of waiting for it."""
    with TestClient(create_app(settings.model_copy(update={"sandbox_wait_seconds": 0.0}))) as c:
        yield c


def _agent(client: TestClient, auth: dict[str, str], tenant: str) -> str:
    made = client.post(
        f"/tenants/{tenant}/agents",
        json={"agent_id": "vpn", "name": "VPN", "spec": {}},
        headers=auth,
    )
    assert made.status_code == 201, made.text
    return f"/tenants/{tenant}/agents/vpn"


def _jobs(db: Database, tenant: str) -> list[dict[str, Any]]:
    with db.tenant(tenant) as conn:
        return conn.execute("SELECT job_id, kind, status FROM sandbox_jobs").fetchall()


def _settled(client: TestClient, auth: dict[str, str], job: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
        polled = client.get(job["poll"], headers=auth)
        assert polled.status_code == 200, polled.text
        job = polled.json()
    return job


def test_without_a_worker_the_api_says_so_and_records_nothing(
    client_without_worker: TestClient, auth: dict[str, str], db: Database, tenant: str
) -> None:
    agent = _agent(client_without_worker, auth, tenant)
    for path, body in (
        ("/versions/1/sandbox", {"ticket": TICKET}),
        ("/versions/1/test-runs", None),
        ("/versions/1/activate", None),
    ):
        answer = client_without_worker.post(agent + path, json=body, headers=auth)
        assert answer.status_code == 503, answer.text
        assert "sandbox worker is not running" in answer.json()["detail"], path
        assert "aiops up" in answer.json()["detail"]
    assert _jobs(db, tenant) == []
    agent_now = client_without_worker.get(agent, headers=auth).json()
    assert agent_now["active_version"] is None


def test_a_run_not_finished_in_time_is_a_job_to_poll(
    unwaiting: TestClient, auth: dict[str, str], db: Database, tenant: str
) -> None:
    agent = _agent(unwaiting, auth, tenant)
    answer = unwaiting.post(agent + "/versions/1/sandbox", json={"ticket": TICKET}, headers=auth)
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["kind"] == "sandbox" and job["status"] in ("queued", "running", "done")
    assert answer.headers["location"] == job["poll"] == f"{agent}/jobs/{job['job_id']}"
    done = _settled(unwaiting, auth, job)
    assert done["status"] == "done" and done["run_ids"] == [job["job_id"]]
    assert done["outcome"] == {"run_status": "succeeded"}
    run = unwaiting.get(f"{agent}/runs/{job['job_id']}", headers=auth).json()
    assert [s["name"] for s in run["stages"]][:4] == ["mask", "agent", "begin", "noise"]
    assert run["status"] == "succeeded" and run["note"]


def test_an_activation_job_keeps_the_gate_and_ends_refused_or_done(
    unwaiting: TestClient, auth: dict[str, str], db: Database, tenant: str
) -> None:
    agent = _agent(unwaiting, auth, tenant)
    case = {
        "name": "must cite",
        "ticket": TICKET,
        "expectations": [{"kind": "cites", "value": "KB-999"}],
    }
    added = unwaiting.post(agent + "/versions/1/test-cases", json=case, headers=auth)
    assert added.status_code == 201, added.text

    asked = unwaiting.post(agent + "/versions/1/activate", headers=auth)
    assert asked.status_code == 202, asked.text
    refused = _settled(unwaiting, auth, asked.json())
    assert refused["status"] == "refused" and "KB-999" in refused["error"]
    assert len(refused["run_ids"]) == 1
    assert unwaiting.get(agent, headers=auth).json()["active_version"] is None

    reason = {"override_reason": "the article is not written yet"}
    asked = unwaiting.post(agent + "/versions/1/activate", json=reason, headers=auth)
    done = _settled(unwaiting, auth, asked.json())
    assert done["status"] == "done", done
    deployment = done["outcome"]["deployment"]
    assert (deployment["version"], deployment["overridden"]) == (1, True)
    assert deployment["actor"] == "platform-admin"
    assert unwaiting.get(agent, headers=auth).json()["active_version"] == 1
    kinds = sorted((j["kind"], j["status"]) for j in _jobs(db, tenant))
    assert kinds == [("activate", "done"), ("activate", "refused")]


def test_a_job_of_another_tenant_is_not_found(
    client: TestClient, auth: dict[str, str], db: Database, box: SecretBox, tenant: str
) -> None:
    agent = _agent(client, auth, tenant)
    ran = client.post(agent + "/versions/1/sandbox", json={"ticket": TICKET}, headers=auth)
    assert ran.status_code == 200, ran.text
    other = f"{tenant}-other"
    add_tenant(db, box, other)
    _agent(client, auth, other)
    run_id = ran.json()["run_id"]
    assert client.get(f"{agent}/jobs/{run_id}", headers=auth).status_code == 200
    elsewhere = client.get(f"/tenants/{other}/agents/vpn/jobs/{run_id}", headers=auth)
    assert elsewhere.status_code == 404


def test_a_pasted_tickets_credentials_are_masked_before_its_job_is_stored(
    unwaiting: TestClient, auth: dict[str, str], db: Database, tenant: str
) -> None:
    agent = _agent(unwaiting, auth, tenant)
    pasted = {**TICKET, "description": "VPN drops. Login is admin, password: hunter2"}
    answer = unwaiting.post(agent + "/versions/1/sandbox", json={"ticket": pasted}, headers=auth)
    assert answer.status_code in (200, 202), answer.text
    with db.tenant(tenant) as conn:
        stored = conn.execute("SELECT ticket::text AS ticket FROM sandbox_jobs").fetchall()
    assert len(stored) == 1
    assert "hunter2" not in stored[0]["ticket"]
    assert "[REDACTED:password]" in stored[0]["ticket"]
