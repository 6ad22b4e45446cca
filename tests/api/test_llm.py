"""Bring your own LLM key: tested against the provider (the OpenAI stand-in, through
litellm's real OpenAI provider) before it is saved, never shown, then used by the flow."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from aiops.crypto import SecretBox
from aiops.settings import Settings
from api.app import create_app
from tests.fakes.openai_server import OpenAiServer
from tests.fakes.rebinding_dns import REBINDING_HOST, rebinding_dns
from tests.flows.conftest import add_tenant, recorded, run_flow
from tests.flows.events import entry, event
from tests.flows.monitoring import closed_port_url
from warehouse.api_keys import create_key
from warehouse.db import Database
from warehouse.tenants import get_tenant

OLD_KEY = "sk-tenant-old-key-0000000000000001"
NEW_KEY = "sk-tenant-new-key-0000000000000002"
WRONG_KEY = "sk-tenant-typo-key-000000000000003"


@pytest.fixture()
def llm() -> Iterator[OpenAiServer]:
    with OpenAiServer(api_key=NEW_KEY) as server:
        yield server


def _put(client: TestClient, auth: dict[str, str], tenant_id: str, **body: object) -> Response:
    return client.put(f"/tenants/{tenant_id}/llm", json=body, headers=auth)


def _stored(db: Database, box: SecretBox, tenant_id: str) -> tuple[str | None, str | None]:
    config = get_tenant(db, box, tenant_id)
    assert config is not None
    return config.llm_model, config.llm_api_key


def _assert_unseen(text: str, *keys: str) -> None:
    for key in keys:
        assert key not in text
    # OpenAI quotes part of a wrong key in its message: it is never passed on either.
    assert "Incorrect API key" not in text


def test_get_says_whether_there_is_a_key_never_what_it_is(
    client: TestClient, auth: dict[str, str], db: Database, box: SecretBox, tenant_id: str
) -> None:
    add_tenant(
        db,
        box,
        tenant_id,
        llm_model="openai/gpt-4o-mini",
        llm_fallbacks=("openai/gpt-4o",),
        llm_api_base="https://llm.acme.example/v1",
        llm_api_key=OLD_KEY,
    )

    got = client.get(f"/tenants/{tenant_id}/llm", headers=auth)

    assert got.status_code == 200, got.text
    assert got.json() == {
        "model": "openai/gpt-4o-mini",
        "fallbacks": ["openai/gpt-4o"],
        "api_base": "https://llm.acme.example/v1",
        "has_api_key": True,
    }
    assert OLD_KEY not in got.text
    assert client.get("/tenants/t-nobody/llm", headers=auth).status_code == 404
    assert client.get(f"/tenants/{tenant_id}/llm").status_code == 401


def test_an_accepted_key_is_saved_encrypted_and_the_flow_uses_it(
    client: TestClient,
    auth: dict[str, str],
    settings: Settings,
    db: Database,
    box: SecretBox,
    llm: OpenAiServer,
    tenant_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    add_tenant(
        db,
        box,
        tenant_id,
        llm_model="openai/primary",
        llm_api_base=llm.base_url,
        llm_api_key=OLD_KEY,
    )
    flow_settings = settings.model_copy(update={"tenant_cache_seconds": 0.0})
    before = event(tenant_id, "1", "VPN drops every hour")
    run_flow(flow_settings, [entry(before)])
    assert recorded(db, tenant_id, before.event_id)["status"] == "failed"

    put = _put(
        client,
        auth,
        tenant_id,
        model="openai/primary",
        fallbacks=["openai/backup"],
        api_base=llm.base_url,
        api_key=NEW_KEY,
    )

    assert put.status_code == 200, put.text
    assert put.json() == {
        "model": "openai/primary",
        "fallbacks": ["openai/backup"],
        "api_base": llm.base_url,
        "has_api_key": True,
    }
    probe = llm.requests[-1]
    assert (probe["model"], probe["max_tokens"]) == ("primary", 1)
    assert _stored(db, box, tenant_id) == ("openai/primary", NEW_KEY)
    with db.tenant(tenant_id) as conn:
        row = conn.execute("SELECT llm_api_key_enc FROM tenant_configs").fetchone()
    assert row is not None and NEW_KEY.encode() not in bytes(row["llm_api_key_enc"])

    after = event(tenant_id, "2", "Printer offline on floor 3")
    run_flow(flow_settings, [entry(after)])

    done = recorded(db, tenant_id, after.event_id)
    assert (done["status"], done["synthesizer"], done["model"]) == (
        "stored",
        "litellm",
        "openai/primary",
    )
    assert "Suggested next steps for: Ticket 2" in done["output"]
    _assert_unseen(put.text + client.get(f"/tenants/{tenant_id}/llm", headers=auth).text, NEW_KEY)
    assert caplog.records, "the run logged something to search"
    assert all(NEW_KEY not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("refusal", ["unknown key (401)", "forbidden key (403)"])
def test_a_refused_key_is_422_and_nothing_is_saved(
    client: TestClient,
    auth: dict[str, str],
    db: Database,
    box: SecretBox,
    llm: OpenAiServer,
    tenant_id: str,
    refusal: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    add_tenant(db, box, tenant_id, llm_model="openai/primary", llm_api_key=OLD_KEY)
    if "403" in refusal:
        llm.forbidden_keys.add(WRONG_KEY)

    put = _put(
        client, auth, tenant_id, model="openai/other", api_base=llm.base_url, api_key=WRONG_KEY
    )

    assert put.status_code == 422, put.text
    detail = put.json()["detail"]
    assert "refused the key" in detail and "nothing was saved" in detail
    assert ("HTTP 403" if "403" in refusal else "HTTP 401") in detail
    _assert_unseen(put.text, WRONG_KEY, OLD_KEY)
    # The refusal itself is logged (at INFO): that is the record most likely to quote the key.
    assert any(
        "LLM key check" in r.getMessage() for r in caplog.records if r.levelno >= logging.INFO
    )
    assert all(WRONG_KEY not in r.getMessage() for r in caplog.records)
    # Only litellm's own DEBUG lines quote the provider, and aiops.logs keeps those off.
    assert all(
        "Incorrect API key" not in r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.INFO
    )
    assert _stored(db, box, tenant_id) == ("openai/primary", OLD_KEY)
    assert len(llm.requests) == 1


@pytest.mark.parametrize("outage", ["unreachable", "server error", "timeout"])
def test_a_provider_that_cannot_answer_is_502_and_nothing_is_saved(
    settings: Settings,
    auth: dict[str, str],
    db: Database,
    box: SecretBox,
    llm: OpenAiServer,
    tenant_id: str,
    outage: str,
) -> None:
    add_tenant(db, box, tenant_id, llm_model="openai/primary", llm_api_key=OLD_KEY)
    api_base = llm.base_url
    if outage == "unreachable":
        api_base = closed_port_url().removesuffix("/status") + "/v1"
    elif outage == "server error":
        llm.fail_models.add("other")
    else:
        llm.delay_seconds = 2.0
    quick = settings.model_copy(update={"llm_timeout_seconds": 0.5})

    with TestClient(create_app(quick)) as client:
        put = _put(
            client, auth, tenant_id, model="openai/other", api_base=api_base, api_key=NEW_KEY
        )

    assert put.status_code == 502, put.text
    detail = put.json()["detail"]
    assert "nothing was saved" in detail and "try again" in detail
    assert NEW_KEY not in put.text
    assert _stored(db, box, tenant_id) == ("openai/primary", OLD_KEY)


def test_an_omitted_key_keeps_the_stored_one_and_tests_it_again(
    client: TestClient,
    auth: dict[str, str],
    db: Database,
    box: SecretBox,
    llm: OpenAiServer,
    tenant_id: str,
) -> None:
    add_tenant(db, box, tenant_id, llm_model="openai/primary", llm_api_key=NEW_KEY)

    kept = _put(client, auth, tenant_id, model="openai/other", api_base=llm.base_url)

    assert kept.status_code == 200, kept.text
    assert kept.json()["has_api_key"] is True
    assert _stored(db, box, tenant_id) == ("openai/other", NEW_KEY)
    assert llm.requests[-1]["model"] == "other"

    llm.api_key = "sk-rotated-at-the-provider-000004"
    refused = _put(client, auth, tenant_id, model="openai/third", api_base=llm.base_url)

    assert refused.status_code == 422, refused.text
    assert _stored(db, box, tenant_id) == ("openai/other", NEW_KEY)


def test_clearing_the_key_resetting_and_bad_input(
    client: TestClient,
    auth: dict[str, str],
    db: Database,
    box: SecretBox,
    llm: OpenAiServer,
    tenant_id: str,
) -> None:
    add_tenant(
        db,
        box,
        tenant_id,
        llm_model="openai/primary",
        llm_api_base=llm.base_url,
        llm_api_key=NEW_KEY,
    )
    bad: list[dict[str, object]] = [
        {"model": "no-such-provider-model"},
        {"model": "openai/primary", "fallbacks": ["not/a-provider"]},
        {"model": "openai/primary", "api_key": WRONG_KEY, "clear_api_key": True},
        {"model": "openai/primary", "api_base": "ftp://llm.example", "api_key": WRONG_KEY},
        {"model": "openai/primary", "api_base": llm.base_url, "clear_api_key": True},
        {"model": "openai/primary", "api_key": WRONG_KEY, "unknown": 1},
        # Found by fuzzing: no HTTP header can carry these, so it is not the provider's fault.
        {"model": "openai/primary", "api_key": "sk-caf\u00e9-key"},
        {"model": "openai/primary", "api_key": "sk-two words"},
    ]
    for body in bad:
        answer = _put(client, auth, tenant_id, **body)
        assert answer.status_code == 422, (body, answer.text)
        assert WRONG_KEY not in answer.text
    assert llm.requests == []
    assert _stored(db, box, tenant_id) == ("openai/primary", NEW_KEY)

    cleared = _put(client, auth, tenant_id, model="gpt-4o-mini", clear_api_key=True)

    assert cleared.status_code == 200, cleared.text
    assert cleared.json() == {
        "model": "gpt-4o-mini",
        "fallbacks": [],
        "api_base": None,
        "has_api_key": False,
    }
    assert llm.requests == []  # no key of its own: the installation's is not tested here
    assert _stored(db, box, tenant_id) == ("gpt-4o-mini", None)

    reset = client.delete(f"/tenants/{tenant_id}/llm", headers=auth)

    assert reset.status_code == 200, reset.text
    assert reset.json() == {"model": None, "fallbacks": [], "api_base": None, "has_api_key": False}
    assert _put(client, auth, "t-nobody", model="gpt-4o-mini").status_code == 404


def test_a_tenant_key_cannot_point_the_server_at_an_internal_address(
    client: TestClient, auth: dict[str, str], db: Database, box: SecretBox, llm: OpenAiServer
) -> None:
    tenant_id = f"t-ssrf-{uuid.uuid4().hex[:8]}"
    add_tenant(db, box, tenant_id, llm_model="openai/primary", llm_api_key=OLD_KEY)
    with db.tenant(tenant_id) as conn:
        tenant_admin = {"Authorization": f"Bearer {create_key(conn, 'ops', 'admin').token}"}

    for internal in (llm.base_url, "http://169.254.169.254/latest", "http://10.0.0.5/v1"):
        put = _put(
            client, tenant_admin, tenant_id, model="openai/x", api_base=internal, api_key=NEW_KEY
        )
        assert put.status_code == 422, put.text
        assert "public endpoint" in put.json()["detail"]
    assert llm.requests == []  # refused before any call was made
    assert _stored(db, box, tenant_id) == ("openai/primary", OLD_KEY)

    # The platform operator may choose an internal endpoint (an in-cluster LLM proxy, say).
    put = _put(client, auth, tenant_id, model="openai/x", api_base=llm.base_url, api_key=NEW_KEY)
    assert put.status_code == 200, put.text
    assert _stored(db, box, tenant_id) == ("openai/x", NEW_KEY)


def test_a_tenant_endpoint_that_rebinds_after_the_check_is_not_called_by_the_key_check(
    client: TestClient,
    db: Database,
    box: SecretBox,
    llm: OpenAiServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant_id = f"t-rebind-{uuid.uuid4().hex[:8]}"
    add_tenant(db, box, tenant_id, llm_model="openai/primary", llm_api_key=OLD_KEY)
    with db.tenant(tenant_id) as conn:
        tenant_admin = {"Authorization": f"Bearer {create_key(conn, 'ops', 'admin').token}"}
    rebound = llm.base_url.replace("127.0.0.1", REBINDING_HOST)

    # Public when the API checks the URL, loopback when the key check would connect.
    with rebinding_dns(monkeypatch, public_answers=1):
        put = _put(
            client, tenant_admin, tenant_id, model="openai/x", api_base=rebound, api_key=NEW_KEY
        )

    assert put.status_code == 502, put.text
    assert llm.requests == [] and llm.authorizations == []
    assert _stored(db, box, tenant_id) == ("openai/primary", OLD_KEY)


def test_a_tenant_key_sets_an_api_base_only_for_openai_compatible_models(
    client: TestClient, auth: dict[str, str], db: Database, box: SecretBox, llm: OpenAiServer
) -> None:
    tenant_id = f"t-provider-{uuid.uuid4().hex[:8]}"
    add_tenant(db, box, tenant_id, llm_model="openai/primary", llm_api_key=OLD_KEY)
    with db.tenant(tenant_id) as conn:
        tenant_admin = {"Authorization": f"Bearer {create_key(conn, 'ops', 'admin').token}"}

    put = _put(
        client, tenant_admin, tenant_id, model="anthropic/claude-3-5-haiku-latest",
        api_base="https://llm.example.com", api_key=NEW_KEY,
    )  # fmt: skip

    assert put.status_code == 422, put.text
    assert "OpenAI-compatible" in put.json()["detail"]
    assert llm.requests == [] and _stored(db, box, tenant_id) == ("openai/primary", OLD_KEY)
