"""Credentials, and personal data when a tenant asks, are masked before anything reaches the
LLM or storage: through the real flow, litellm against the OpenAI stand-in, real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from aiops.crypto import SecretBox
from aiops.events import Event, Ticket
from aiops.settings import Settings
from tests.fakes.openai_server import OpenAiServer
from tests.flows.conftest import add_tenant, recorded, run_flow, seed
from tests.flows.events import entry, event
from tests.flows.monitoring import MonitoringServer
from warehouse.db import Database
from warehouse.knowledge import Article, Host

LLM_KEY = "sk-test"
PASSWORD = "Hunter2!2024"
API_KEY = "sk-proj-Qw3rTy6uIo9pAs2dFg5hJk8lZx1cVb4n"
HISTORY_PASSWORD = "Adm1n!Reset77"
KB_KEY = "9f8e7d6c5b4a3210"
MONITORING_TOKEN = "mon-0a1b2c3d4e5f"
EMAIL = "jane.doe@acme.example"
PHONE = "+49 30 1234567"
OWNER_EMAIL = "netops@acme.example"
SECRETS = (PASSWORD, API_KEY, HISTORY_PASSWORD, KB_KEY, MONITORING_TOKEN)


@pytest.fixture()
def llm() -> Iterator[OpenAiServer]:
    with OpenAiServer(LLM_KEY) as server:
        yield server


def _tenant(db: Database, box: SecretBox, tenant_id: str, llm: OpenAiServer, **config: Any) -> None:
    add_tenant(
        db,
        box,
        tenant_id,
        llm_model="openai/gpt-4o-mini",
        llm_api_base=llm.base_url,
        llm_api_key=LLM_KEY,
        **config,
    )
    seed(
        db,
        tenant_id,
        history=[
            Ticket(
                id="H1",
                subject="VPN login fails after password change",
                description="Remote user cannot log in to the VPN.",
                resolution=f"Reset the VPN account; new password: {HISTORY_PASSWORD}",
            )
        ],
        articles=[
            Article("KB-9", "VPN login fails", f"Re-register the client with api_key={KB_KEY}.")
        ],
        hosts=[Host("srv-vpn01", "10.0.0.9", "firewall", "FortiOS", "HQ", OWNER_EMAIL)],
    )


def _ticket_event(tenant_id: str, ticket_id: str) -> Event:
    item = event(
        tenant_id,
        ticket_id,
        "VPN login fails on srv-vpn01",
        f"My password: {PASSWORD} no longer works, the client config has {API_KEY}.\n"
        f"Call me at {PHONE} or mail {EMAIL}. Jane Doe, accounting",
    )
    ticket = item.ticket.model_copy(update={"requester": "Jane Doe", "requester_email": EMAIL})
    return item.model_copy(update={"ticket": ticket})


def _sent_prompt(llm: OpenAiServer, item: Event) -> str:
    first_line = f"Ticket {item.ticket.id} from"
    [request] = [r for r in llm.requests if first_line in r["messages"][1]["content"]]
    return "\n".join(m["content"] for m in request["messages"])


def _stored_ticket(db: Database, tenant_id: str, event_id: str) -> dict[str, Any]:
    with db.tenant(tenant_id) as conn:
        row = conn.execute(
            "SELECT ticket FROM enhancement_history WHERE event_id = %s", (event_id,)
        ).fetchone()
    assert row is not None
    ticket: dict[str, Any] = row["ticket"]
    return ticket


def test_credentials_never_reach_the_llm_or_the_history_and_personal_data_only_on_request(
    flow_settings: Settings, db: Database, box: SecretBox, llm: OpenAiServer, tenant_id: str
) -> None:
    plain, private = tenant_id, f"{tenant_id}-private"
    with MonitoringServer() as monitoring:
        monitoring.details = {"note": f"maintenance token={MONITORING_TOKEN}"}
        _tenant(db, box, plain, llm, monitoring_url=monitoring.url)
        _tenant(db, box, private, llm, monitoring_url=monitoring.url, mask_personal_data=True)
        events = {plain: _ticket_event(plain, "P1"), private: _ticket_event(private, "M1")}

        run_flow(flow_settings, [entry(e) for e in events.values()])

    for tid, item in events.items():
        sent = _sent_prompt(llm, item)
        row = recorded(db, tid, item.event_id)
        assert row["status"] == "stored"
        stored = {
            "sent prompt": sent,
            "stored prompt": row["prompt"],
            "stored context": json.dumps(row["context"]),
            "stored ticket": json.dumps(_stored_ticket(db, tid, item.event_id)),
        }
        for where, text in stored.items():
            for secret in SECRETS:
                assert secret not in text, f"{secret} in the {where} of {tid}"
        for text in (sent, row["prompt"]):
            assert "My password: [REDACTED:password] no longer works" in text
            assert "the client config has [REDACTED:api_key]." in text
            assert "new password: [REDACTED:password]" in text
            assert "api_key=[REDACTED:api_key]" in text
            assert "maintenance token=[REDACTED:token]" in text
        context = row["context"]
        assert context["similar_tickets"][0]["resolution"].endswith(
            "new password: [REDACTED:password]"
        )
        assert context["kb_articles"][0]["excerpt"].endswith("api_key=[REDACTED:api_key].")
        assert context["monitoring"]["srv-vpn01"]["note"] == "maintenance token=[REDACTED:token]"

    sent, row = _sent_prompt(llm, events[plain]), recorded(db, plain, events[plain].event_id)
    for kept in (EMAIL, PHONE, "Requester: Jane Doe", OWNER_EMAIL):
        assert kept in sent and kept in row["prompt"]
    assert _stored_ticket(db, plain, events[plain].event_id)["requester_email"] == EMAIL

    sent, row = _sent_prompt(llm, events[private]), recorded(db, private, events[private].event_id)
    for text in (sent, row["prompt"], json.dumps(row["context"])):
        for personal in (EMAIL, PHONE, "Jane Doe", OWNER_EMAIL):
            assert personal not in text
    assert "Call me at [PHONE] or mail [EMAIL]. [NAME], accounting" in sent
    assert "Requester: [NAME]" in sent
    assert row["context"]["hosts"][0]["owner"] == "[EMAIL]"
    ticket = _stored_ticket(db, private, events[private].event_id)
    assert (ticket["requester"], ticket["requester_email"]) == ("[NAME]", "[EMAIL]")
