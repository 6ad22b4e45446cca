"""One tenant per ticketing system in one running `aiops up`: ServiceDesk Plus, Jira,
Zendesk, Freshservice, ServiceNow and ConnectWise PSA tenants set up as their admins
would (CLI or API, credentials tried against each stand-in when saved), each ITSM's
webhooks signed or authenticated its own way (ConnectWise: the callback URL's secret, the
ticket read back from ConnectWise), resolved tickets stored into history and drawn on for
the next note, exactly one internal note per event, noise ignored, and no credential in
any log.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from secrets import token_hex
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from itsm.freshservice import TOKEN_HEADER as FRESHSERVICE_TOKEN
from itsm.servicenow.signing import signature as servicenow_signature
from itsm.zendesk import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from tests.e2e import test_running_system as running
from tests.e2e.test_jira_beside_sdp import _issue_body
from tests.e2e.test_running_system import (
    ENHANCE_SECONDS,
    System,
    _log_files,
    _log_on_failure,
    _until,
)
from tests.fakes.connectwise_server import ConnectWiseServer
from tests.fakes.freshservice_server import FreshserviceServer
from tests.fakes.jira_server import JiraServer
from tests.fakes.openai_server import OpenAiServer
from tests.fakes.sdp_server import SdpServer
from tests.fakes.servicenow_server import ServiceNowServer
from tests.fakes.zendesk_server import ZendeskServer
from tests.ingest import jira as jira_hooks
from tests.ingest import sdp

pytestmark = pytest.mark.e2e

system = running.system
llm = running.llm

OWN = Path(__file__).resolve().parents[1] / "fixtures" / "itsm"
JIRA_EMAIL = "agent@globex.example"
ZENDESK_EMAIL = "aiops@initech.example"
ZENDESK_FIX = "Cleared Credential Manager and set EnableADAL=1 (change ZD-4471)"
FRESHSERVICE_FIX = "Disabled Wi-Fi power saving on the adapter (change FS-8812)"
SERVICENOW_USER = "aiops.integration"
SERVICENOW_FIX = "Re-registered the Outlook profile's ADAL token cache (change SN-3316)"
CONNECTWISE_FIX = "Replaced the stale Kerberos ticket on the terminal server (change CW-5520)"


@pytest.fixture()
def servicedesk() -> Iterator[SdpServer]:
    with SdpServer(flavor="onprem", api_key=f"sdp-e2e-{token_hex(16)}") as server:
        yield server


@pytest.fixture()
def jira() -> Iterator[JiraServer]:
    token = f"ATATT-e2e-{token_hex(16)}"
    with JiraServer(flavor="cloud", email=JIRA_EMAIL, token=token) as server:
        yield server


@pytest.fixture()
def zendesk() -> Iterator[ZendeskServer]:
    with ZendeskServer(email=ZENDESK_EMAIL, token=f"zd-e2e-{token_hex(16)}") as server:
        yield server


@pytest.fixture()
def freshservice() -> Iterator[FreshserviceServer]:
    with FreshserviceServer(api_key=f"fs-e2e-{token_hex(16)}") as server:
        yield server


@pytest.fixture()
def servicenow() -> Iterator[ServiceNowServer]:
    with ServiceNowServer(
        username=SERVICENOW_USER,
        password=f"sn-e2e-{token_hex(16)}",
        client_id=f"sn-client-{token_hex(8)}",
        client_secret=f"sn-secret-{token_hex(16)}",
    ) as server:
        yield server


@pytest.fixture()
def connectwise() -> Iterator[ConnectWiseServer]:
    with ConnectWiseServer(
        company="stark",
        public_key=f"pub{token_hex(8)}",
        private_key=f"cw-e2e-{token_hex(16)}",
        client_id=f"cw-client-{token_hex(8)}",
    ) as server:
        yield server


def _servicenow_headers(secret: str, delivery: str) -> Callable[[bytes], dict[str, str]]:
    def sign(raw: bytes) -> dict[str, str]:
        stamp = str(int(time.time()))
        return {
            "Content-Type": "application/json",
            "X-AIOps-Timestamp": stamp,
            "X-AIOps-Delivery-Id": delivery,
            "X-AIOps-Signature": servicenow_signature(secret, stamp, delivery, raw),
        }

    return sign


def _callback(ticket: dict[str, Any], action: str) -> dict[str, Any]:
    """A ConnectWise ticket callback as it is POSTed: the ticket as a JSON string."""
    return {
        "MessageId": token_hex(16),
        "FromUrl": "api-na.myconnectwise.net",
        "CompanyId": "stark",
        "Action": action,
        "Type": "ticket",
        "ID": ticket["id"],
        "Entity": json.dumps(ticket),
    }


def _fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((OWN / name).read_text())
    return loaded


def _post(url: str, body: dict[str, Any], headers: Callable[[bytes], dict[str, str]]) -> Any:
    raw = json.dumps(body).encode()
    return httpx.post(url, content=raw, headers=headers(raw), timeout=10)


def _accepted(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _zendesk_headers(secret: str, invocation: str) -> Callable[[bytes], dict[str, str]]:
    def sign(raw: bytes) -> dict[str, str]:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(secret, stamp, raw),
            TIMESTAMP_HEADER: stamp,
            DELIVERY_HEADER: invocation,
        }

    return sign


JSON = {"Content-Type": "application/json"}


def _freshservice_headers(secret: str) -> Callable[[bytes], dict[str, str]]:
    return lambda raw: {"Content-Type": "application/json", FRESHSERVICE_TOKEN: secret}


def _api(system: System, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = httpx.request(
        method, f"{system.api}{path}", json=body, headers=system.admin(), timeout=30
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def _statuses(system: System, tenant: str) -> dict[str, str]:
    rows = _api(system, "GET", f"/tenants/{tenant}/enhancements?limit=100")
    return {row["event_id"]: row["status"] for row in rows}


def _resolved_stored(system: System) -> float:
    port = system.env["AI_AGENTS_FLOW_METRICS_PORT"]
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return 0.0
    found = re.search(r'^aiops_flow_resolved_tickets_total\{outcome="stored"\} (\S+)$', text, re.M)
    return float(found[1]) if found else 0.0


def _prompts_with(llm: OpenAiServer, subject: str) -> list[str]:
    return [str(r["messages"]) for r in llm.requests if subject in str(r["messages"])]


# Four systems' tenants in one run: more than the suite's 300 s on a loaded machine.
@pytest.mark.timeout(900)
def test_one_tenant_per_itsm_each_gets_one_internal_note_per_event(
    system: System,
    llm: OpenAiServer,
    servicedesk: SdpServer,
    jira: JiraServer,
    zendesk: ZendeskServer,
    freshservice: FreshserviceServer,
    servicenow: ServiceNowServer,
    connectwise: ConnectWiseServer,
) -> None:
    with _log_on_failure(system):
        # ServiceDesk Plus and Zendesk by the CLI, Jira and Freshservice by the API.
        made = system.aiops(
            "tenants", "create", "acme", "--name", "Acme Corp",
            "--servicedesk-url", servicedesk.base_url, "--servicedesk-key", servicedesk.api_key,
        )  # fmt: skip
        sdp_secret = made.split("Signing secret", 1)[1].splitlines()[1].strip()
        made = system.aiops(
            "tenants", "create", "initech", "--name", "Initech", "--itsm", "zendesk",
            "--zendesk-url", zendesk.base_url, "--zendesk-email", ZENDESK_EMAIL,
            "--zendesk-token", zendesk.token,
        )  # fmt: skip
        assert "--secret-from-itsm" in made and "/webhook/zendesk?tenant=initech" in made
        # Zendesk signs with the secret it made: adopted by a rotation, the ours dropped.
        zendesk_secret = "zendesk-made-" + token_hex(20)
        _api(system, "POST", "/tenants/initech/webhook-secrets", {"secret": zendesk_secret})
        _api(system, "DELETE", "/tenants/initech/webhook-secrets/previous")
        jira_secret, fs_secret = "whsec_" + token_hex(24), "whsec_" + token_hex(24)
        _api(
            system,
            "POST",
            "/tenants",
            {
                "tenant_id": "globex",
                "display_name": "Globex on Jira",
                "itsm_source": "jira",
                "itsm_base_url": jira.base_url,
                "itsm_username": JIRA_EMAIL,
                "itsm_api_key": jira.token,
                "webhook_secret": jira_secret,
            },
        )
        umbrella = _api(
            system,
            "POST",
            "/tenants",
            {
                "tenant_id": "umbrella",
                "display_name": "Umbrella on Freshservice",
                "itsm_source": "freshservice",
                "itsm_base_url": freshservice.base_url,
                "itsm_api_key": freshservice.api_key,
                "webhook_secret": fs_secret,
            },
        )
        assert umbrella["webhook_urls"]["signature_header"] == "X-AIOps-Webhook-Token"
        # ServiceNow by the CLI, on OAuth; ConnectWise by the API.
        made = system.aiops(
            "tenants", "create", "hooli", "--name", "Hooli", "--itsm", "servicenow",
            "--servicenow-url", servicenow.base_url, "--servicenow-user", SERVICENOW_USER,
            "--servicenow-password", servicenow.password, "--servicenow-auth", "oauth",
            "--servicenow-client-id", str(servicenow.client_id),
            "--servicenow-client-secret", str(servicenow.client_secret),
        )  # fmt: skip
        assert "x_aiops.webhook_secret" in made and "/webhook/servicenow?tenant=hooli" in made
        sn_secret = made.split("Signing secret", 1)[1].splitlines()[1].strip()
        cw_secret = "whsec_" + token_hex(24)
        _api(
            system,
            "POST",
            "/tenants",
            {
                "tenant_id": "stark",
                "display_name": "Stark on ConnectWise",
                "itsm_source": "connectwise",
                "itsm_base_url": connectwise.base_url,
                "itsm_username": connectwise.public_key,
                "itsm_api_key": connectwise.private_key,
                "itsm_options": {"company": "stark", "client_id": connectwise.client_id},
                "webhook_secret": cw_secret,
            },
        )
        assert [r.path for r in servicenow.received] == [
            "/oauth_token.do",
            "/api/now/table/incident",
        ]
        assert [r.path for r in connectwise.received] == ["/v4_6_release/apis/3.0/service/tickets"]
        # Each credential check was one authenticated read of the stand-in.
        assert [r.path for r in zendesk.received] == ["/api/v2/users/me.json"]
        assert [r.path for r in freshservice.received] == ["/api/v2/tickets"]
        urls = {t: f"{system.ingest}/webhook/{s}?tenant={t}" for t, s in (
            ("acme", "servicedesk"), ("globex", "jira"), ("initech", "zendesk"),
            ("umbrella", "freshservice"), ("hooli", "servicenow"), ("stark", "connectwise"),
        )}  # fmt: skip
        # The secret rides in the callback URL, URL-encoded, as registered in ConnectWise.
        callback_url = f"{urls['stark']}&token={quote(cw_secret, safe='')}"

        # Resolved tickets first: they are the history the next notes draw on.
        solved = _fixture("zendesk/trigger_ticket_solved.json")
        solved["ticket"]["id"] = "35400"
        solved["ticket"]["resolution"] = ZENDESK_FIX
        _accepted(_post(urls["initech"], solved, _zendesk_headers(zendesk_secret, "inv-1")))
        resolved = _fixture("freshservice/workflow_ticket_resolved.json")
        resolved["ticket"]["id"] = "#INC-1000"
        resolved["ticket"]["resolution"] = f"<p>{FRESHSERVICE_FIX}</p>"
        _accepted(_post(urls["umbrella"], resolved, _freshservice_headers(fs_secret)))
        sn_resolved = _fixture("servicenow/br_incident_resolved.json")
        sn_resolved["record"]["sys_id"]["value"] = "5" * 32
        sn_resolved["record"]["close_notes"] = {"value": SERVICENOW_FIX, "display_value": ""}
        _accepted(
            _post(urls["hooli"], sn_resolved, _servicenow_headers(sn_secret, "5" * 32 + "-7"))
        )
        # ConnectWise: the callback says little that is believed; the flow reads the ticket.
        cw_closed = {"id": 250400, "summary": "Terminal server logons fail with a Kerberos error",
                     "closedFlag": True, "closedDate": "2026-11-30T10:00:00Z"}  # fmt: skip
        connectwise.add_ticket(cw_closed, "Users cannot log on to TS01 since this morning.")
        connectwise.add_resolution("250400", CONNECTWISE_FIX)
        _accepted(_post(callback_url, _callback(cw_closed, "updated"), lambda r: JSON))
        _until("the resolved tickets stored", lambda: _resolved_stored(system) >= 4, 90)

        # One created event per system, two for Zendesk (a trigger and an event webhook).
        servicedesk.add_request(sdp.request_object("7001", subject="VPN drops"))
        raw = sdp.body("7001", subject="VPN drops")
        sdp_event = _accepted(
            httpx.post(
                urls["acme"],
                content=raw,
                headers=sdp.headers(raw, sdp_secret, delivery_id="sdp-7001"),
                timeout=10,
            )
        )["event_id"]
        issue = _issue_body("HELP-201")
        jira.add_issue(issue["issue"])
        jira_event = _accepted(
            _post(urls["globex"], issue, lambda r: jira_hooks.headers(r, jira_secret, "wh-201"))
        )["event_id"]
        trigger = _fixture("zendesk/trigger_ticket_created.json")
        trigger["ticket"]["id"] = "35501"
        zendesk.add_ticket({"id": 35501, "subject": trigger["ticket"]["subject"], "status": "new"})
        zd_trigger = _accepted(
            _post(urls["initech"], trigger, _zendesk_headers(zendesk_secret, "inv-2"))
        )["event_id"]
        envelope = _fixture("zendesk/event_ticket_created.json")
        zendesk.add_ticket({"id": 35440, "subject": envelope["detail"]["subject"], "status": "new"})
        zd_envelope = _accepted(
            _post(urls["initech"], envelope, _zendesk_headers(zendesk_secret, "inv-3"))
        )["event_id"]
        assert zd_envelope == envelope["id"]  # the event id is the delivery id
        raised = _fixture("freshservice/workflow_ticket_created.json")
        freshservice.add_ticket({"id": 1042, "subject": raised["ticket"]["subject"], "status": 2})
        fs_event = _accepted(_post(urls["umbrella"], raised, _freshservice_headers(fs_secret)))[
            "event_id"
        ]
        sn_created = _fixture("servicenow/br_incident_created.json")
        sn_sys_id = "6" * 32
        sn_created["record"]["sys_id"]["value"] = sn_sys_id
        servicenow.add_record(
            "incident",
            {"sys_id": sn_sys_id, "short_description": sn_created["record"]["short_description"]},
        )
        sn_event = _accepted(
            _post(urls["hooli"], sn_created, _servicenow_headers(sn_secret, sn_sys_id + "-0"))
        )["event_id"]
        assert sn_event == sn_sys_id + "-0"
        cw_open = {"id": 250401, "summary": "Terminal server logons fail with a Kerberos error",
                   "closedFlag": False}  # fmt: skip
        connectwise.add_ticket(cw_open, "Kerberos error on TS02 logons.")
        # The Entity claims another summary: only what ConnectWise itself holds is used.
        forged_entity = cw_open | {"summary": "FORGED callback text"}
        cw_event = _accepted(
            _post(callback_url, _callback(forged_entity, "added"), lambda r: JSON)
        )["event_id"]

        # Redelivered (Zendesk retries an event under a new invocation), wrongly signed,
        # or noise: nothing more.
        again = _post(urls["initech"], envelope, _zendesk_headers(zendesk_secret, "inv-4"))
        assert _accepted(again)["duplicate"] is True
        forged = _post(urls["umbrella"], raised, _freshservice_headers("whsec_" + token_hex(24)))
        assert forged.status_code == 401
        wrong_url = f"{urls['stark']}&token={quote('whsec_' + token_hex(24), safe='')}"
        assert _post(wrong_url, _callback(cw_open, "added"), lambda r: JSON).status_code == 401
        unsigned = _post(urls["hooli"], sn_created, lambda r: JSON)
        assert unsigned.status_code == 401
        # Our own ConnectWise note makes an "updated" callback of an open ticket: ignored.
        echo = _post(callback_url, _callback(cw_open, "updated"), lambda r: JSON)
        assert _accepted(echo)["ignored"] is True
        stale = _post(urls["initech"], trigger, _zendesk_headers(zendesk_secret, "inv-5"))
        assert _accepted(stale)["duplicate"] is True
        note_added = _fixture("freshservice/workflow_note_added.json")
        assert _accepted(_post(urls["umbrella"], note_added, _freshservice_headers(fs_secret)))[
            "ignored"
        ]

        def notes() -> dict[str, int]:
            return {
                "sdp": len(servicedesk.notes("7001")),
                "jira": len(jira.comments("HELP-201")),
                "zendesk trigger": len(zendesk.comments("35501")),
                "zendesk event": len(zendesk.comments("35440")),
                "freshservice": len(freshservice.conversations("1042")),
                "servicenow": len(servicenow.journal(sn_sys_id)),
                "connectwise": len(
                    [n for n in connectwise.notes("250401") if n["internalAnalysisFlag"]]
                ),
            }

        _until("a note in every system", lambda: all(notes().values()), ENHANCE_SECONDS)
        # Our own Zendesk note coming back as an event: ignored.
        echo = _fixture("zendesk/event_comment_added_own_note.json")
        echo["event"]["comment"]["body"] = zendesk.comments("35440")[0]["plain_body"]
        echoed = _post(urls["initech"], echo, _zendesk_headers(zendesk_secret, "inv-6"))
        assert _accepted(echoed)["ignored"] is True

        expected = {
            "acme": [sdp_event],
            "globex": [jira_event],
            "initech": [zd_trigger, zd_envelope],
            "umbrella": [fs_event],
            "hooli": [sn_event],
            "stark": [cw_event],
        }
        _until(
            "every enhancement recorded as succeeded",
            lambda: all(
                all(_statuses(system, t).get(e) == "succeeded" for e in events)
                for t, events in expected.items()
            ),
            ENHANCE_SECONDS,
        )
        for _ in range(8):
            assert set(notes().values()) == {1}, notes()
            time.sleep(0.25)
        assert servicedesk.notes("7001")[0]["show_to_requester"] is False
        assert jira.comments("HELP-201")[0]["public"] is False
        assert zendesk.comments("35501")[0]["public"] is False
        assert zendesk.comments("35440")[0]["public"] is False
        assert freshservice.conversations("1042")[0]["private"] is True
        assert f"[AI Ops ref {fs_event}]" in freshservice.conversations("1042")[0]["body"]
        assert servicenow.journal(sn_sys_id)[0]["element"] == "work_notes"
        [cw_note] = [n for n in connectwise.notes("250401") if n["createdBy"] != "portal"]
        assert cw_note["internalAnalysisFlag"] and not cw_note["detailDescriptionFlag"]
        # The resolved tickets were history the notes drew on.
        zendesk_prompts = _prompts_with(llm, trigger["ticket"]["subject"])
        assert zendesk_prompts and any(ZENDESK_FIX in p for p in zendesk_prompts)
        fs_prompts = _prompts_with(llm, raised["ticket"]["subject"])
        assert fs_prompts and any(FRESHSERVICE_FIX in p for p in fs_prompts)
        sn_prompts = _prompts_with(llm, sn_created["record"]["short_description"]["value"])
        assert sn_prompts and any(SERVICENOW_FIX in p for p in sn_prompts)
        cw_prompts = _prompts_with(llm, "Kerberos error on TS02 logons.")
        assert cw_prompts and any(CONNECTWISE_FIX in p for p in cw_prompts)
        assert not _prompts_with(llm, "FORGED callback text")
        assert _statuses(system, "acme") == {sdp_event: "succeeded"}

        system.process.send_signal(signal.SIGINT)
        assert system.process.wait(timeout=60) == 0
        used = {
            "SDP key": servicedesk.api_key,
            "Jira token": jira.token,
            "Zendesk token": zendesk.token,
            "Freshservice key": freshservice.api_key,
            "Zendesk signing secret": zendesk_secret,
            "Freshservice webhook secret": fs_secret,
            "Jira webhook secret": jira_secret,
            "ServiceNow password": servicenow.password,
            "ServiceNow client secret": str(servicenow.client_secret),
            "ServiceNow webhook secret": sn_secret,
            "ConnectWise private key": connectwise.private_key,
            "ConnectWise callback secret": cw_secret,
            "ConnectWise callback secret, URL-encoded": quote(cw_secret, safe=""),
        }
        leaks = [
            f"the {what} is in {path}"
            for path in _log_files(system)
            for what, value in used.items()
            if value.encode() in path.read_bytes()
        ]
        assert not leaks, leaks
