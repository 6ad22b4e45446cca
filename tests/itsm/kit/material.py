"""What the conformance kit needs from each plugin: fixtures with their expected outcome,
how the ITSM signs a webhook, and a loopback stand-in of its REST API.

A plugin registered in itsm.registry without an entry in MATERIAL fails the kit.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from itsm.base import ItsmConnection
from itsm.freshservice import DELIVERY_HEADER as FRESHSERVICE_DELIVERY
from itsm.freshservice import TOKEN_HEADER as FRESHSERVICE_TOKEN
from itsm.jira import DELIVERY_HEADER as JIRA_DELIVERY
from itsm.jira import SIGNATURE_HEADER as JIRA_SIGNATURE
from itsm.servicedesk import DELIVERY_HEADER as SDP_DELIVERY
from itsm.servicedesk import SIGNATURE_HEADER as SDP_SIGNATURE
from itsm.servicenow import signing as servicenow_signing
from itsm.signing import hex_hmac_sha256
from itsm.url_token import URL_TOKEN_HEADER
from itsm.zendesk import DELIVERY_HEADER as ZENDESK_DELIVERY
from itsm.zendesk import SIGNATURE_HEADER as ZENDESK_SIGNATURE
from itsm.zendesk import TIMESTAMP_HEADER as ZENDESK_TIMESTAMP
from itsm.zendesk import signature as zendesk_signature
from tests.conftest import FIXTURES
from tests.fakes.connectwise_server import SEEDED as CONNECTWISE_SEEDED
from tests.fakes.connectwise_server import ConnectWiseServer
from tests.fakes.freshservice_server import FreshserviceServer
from tests.fakes.jira_server import JiraServer
from tests.fakes.sdp_server import SdpServer
from tests.fakes.servicenow_server import ServiceNowServer
from tests.fakes.zendesk_server import ZendeskServer

Outcome = Literal["created", "updated", "resolved", "ignored"]
OWN_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "itsm"


@dataclass(frozen=True)
class KitNote:
    body: str
    internal: bool  # visible to agents only


class StandIn(Protocol):
    """A running loopback stand-in of one ITSM, seen the same way for every plugin."""

    credentials: tuple[str, ...]  # every secret the client holds: none may reach a log

    def connection(self, *, api_key: str | None = None) -> ItsmConnection: ...

    def add_ticket(self) -> str:
        """Creates a ticket that internal notes may be added to; returns its id."""
        ...

    def notes(self, ticket_id: str) -> list[KitNote]: ...

    def fail_next(self, *status_codes: int) -> None:
        """The next note posts answer these HTTP codes (429 with Retry-After)."""
        ...


@runtime_checkable
class TriageStandIn(StandIn, Protocol):
    """What the kit needs of the stand-in of a plugin with optional capabilities."""

    def ticket_fields(self, ticket_id: str) -> dict[str, str]:
        """The ticket's triage fields (itsm.base.TRIAGE_FIELDS names) by value name."""
        ...

    def add_technician_note(self, ticket_id: str, text: str) -> None:
        """A note or comment as a technician writes it in the ITSM's own web client."""
        ...


@dataclass(frozen=True)
class KitMaterial:
    fixtures: Mapping[Path, Outcome]
    # Headers as the ITSM sends them: body signed under `secret`, with this delivery id.
    sign: Callable[[bytes, str, str], dict[str, str]]
    stand_in: Callable[[], AbstractContextManager[StandIn]]
    # False where the ITSM cannot sign and sends the secret itself (a bearer secret): the
    # body is then not covered, as the plugin's trust model says.
    body_signed: bool = True
    # False for an ITSM that sends no delivery id (ConnectWise): the derived id dedupes.
    delivery_ids: bool = True
    # For an ITSM whose webhook cannot be signed (ConnectWise): a webhook body naming
    # `ticket_id` whose other content is forged. Its plugin must fetch the ticket.
    pointer: Callable[[str], bytes] | None = None

    def first(self, outcome: Outcome) -> bytes:
        path = next(p for p, o in self.fixtures.items() if o == outcome)
        return json.dumps(json.loads(path.read_text())).encode()


class MissingKitMaterial(LookupError):
    pass


# Servicedesk Plus ---------------------------------------------------------------------------

_SDP_KEY = "kit-sdp-technician-key-5f1e2d"


class _SdpStandIn:
    def __init__(self, server: SdpServer) -> None:
        self._server = server
        self._serial = 5000
        self.credentials: tuple[str, ...] = (_SDP_KEY,)

    def connection(self, *, api_key: str | None = None) -> ItsmConnection:
        return ItsmConnection(self._server.base_url, api_key or _SDP_KEY, self._server.flavor)

    def add_ticket(self) -> str:
        self._serial += 1
        self._server.add_request({"id": str(self._serial), "subject": "kit ticket"})
        return str(self._serial)

    def notes(self, ticket_id: str) -> list[KitNote]:
        return [
            KitNote(n["description"], internal=not n["show_to_requester"])
            for n in self._server.notes(ticket_id)
        ]

    def fail_next(self, *status_codes: int) -> None:
        self._server.retry_after_seconds = 0
        self._server.fail_next(*status_codes)

    def ticket_fields(self, ticket_id: str) -> dict[str, str]:
        request = self._server.request(ticket_id)
        names = {"category": "category", "priority": "priority", "type": "request_type"}
        return {
            ours: request[theirs]["name"]
            for ours, theirs in names.items()
            if isinstance(request.get(theirs), dict) and "name" in request[theirs]
        }

    def add_technician_note(self, ticket_id: str, text: str) -> None:
        self._server.add_technician_note(ticket_id, f"<p>{text}</p>")


@contextmanager
def _sdp_stand_in() -> Iterator[StandIn]:
    with SdpServer(flavor="cloud", api_key=_SDP_KEY) as server:
        yield _SdpStandIn(server)


def _sdp_sign(body: bytes, secret: str, delivery_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        SDP_SIGNATURE: "sha256=" + hex_hmac_sha256(secret, body),
        SDP_DELIVERY: delivery_id,
    }


# Jira Service Management ------------------------------------------------------------------

_JIRA_EMAIL = "kit-agent@acme.example"
_JIRA_TOKEN = "ATATT3xFfGF0-kit-jira-token-7a9c"


class _JiraStandIn:
    def __init__(self, server: JiraServer) -> None:
        self._server = server
        self._serial = 100
        # The token, and the basic-auth form it travels in.
        pair = base64.b64encode(f"{_JIRA_EMAIL}:{_JIRA_TOKEN}".encode()).decode()
        self.credentials: tuple[str, ...] = (_JIRA_TOKEN, pair)

    def connection(self, *, api_key: str | None = None) -> ItsmConnection:
        return ItsmConnection(
            self._server.base_url,
            api_key or _JIRA_TOKEN,
            self._server.flavor,
            username=_JIRA_EMAIL,
        )

    def add_ticket(self) -> str:
        self._serial += 1
        key = f"HELP-{self._serial}"
        self._server.add_issue({"id": str(self._serial), "key": key, "fields": {"summary": "kit"}})
        return key

    def notes(self, ticket_id: str) -> list[KitNote]:
        # Internal means: made through the servicedeskapi with public false.
        return [
            KitNote(c["body"], internal=c["via"] == "servicedeskapi" and c["public"] is False)
            for c in self._server.comments(ticket_id)
        ]

    def fail_next(self, *status_codes: int) -> None:
        self._server.retry_after_seconds = 0
        self._server.fail_next(*status_codes)

    def ticket_fields(self, ticket_id: str) -> dict[str, str]:
        fields = self._server.issue(ticket_id)["fields"]
        names = {"category": "issuetype", "priority": "priority"}
        return {
            ours: fields[theirs]["name"]
            for ours, theirs in names.items()
            if isinstance(fields.get(theirs), dict) and "name" in fields[theirs]
        }

    def add_technician_note(self, ticket_id: str, text: str) -> None:
        self._server.add_agent_comment(ticket_id, text)


@contextmanager
def _jira_stand_in() -> Iterator[StandIn]:
    with JiraServer(flavor="cloud", email=_JIRA_EMAIL, token=_JIRA_TOKEN) as server:
        yield _JiraStandIn(server)


def _jira_sign(body: bytes, secret: str, delivery_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        JIRA_SIGNATURE: "sha256=" + hex_hmac_sha256(secret, body),
        JIRA_DELIVERY: delivery_id,
    }


def _jira_fixtures() -> dict[Path, Outcome]:
    own = OWN_FIXTURES / "jira"
    expected: dict[str, Outcome] = {
        "dc_issue_created.json": "created",
        "cloud_v3_issue_created_adf.json": "created",
        "cloud_issue_resolved.json": "resolved",
        "dc_issue_resolved.json": "resolved",
        "cloud_comment_created.json": "ignored",
        "cloud_own_comment_created.json": "ignored",
        "dc_issue_commented_legacy.json": "ignored",
        "cloud_issue_assigned.json": "ignored",
        "cloud_issue_deleted.json": "ignored",
    }
    shared: dict[Path, Outcome] = {FIXTURES / "itsm" / "jira_cloud_issue_created.json": "created"}
    return shared | {own / name: outcome for name, outcome in expected.items()}


# Zendesk ------------------------------------------------------------------------------------

_ZENDESK_EMAIL = "kit-agent@acme.example"
_ZENDESK_TOKEN = "kit-zendesk-api-token-4b3a29f1"


class _ZendeskStandIn:
    def __init__(self, server: ZendeskServer) -> None:
        self._server = server
        self._serial = 35000
        # The token, and the basic-auth form it travels in.
        pair = base64.b64encode(f"{_ZENDESK_EMAIL}/token:{_ZENDESK_TOKEN}".encode()).decode()
        self.credentials: tuple[str, ...] = (_ZENDESK_TOKEN, pair)

    def connection(self, *, api_key: str | None = None) -> ItsmConnection:
        return ItsmConnection(
            self._server.base_url, api_key or _ZENDESK_TOKEN, username=_ZENDESK_EMAIL
        )

    def add_ticket(self) -> str:
        self._serial += 1
        self._server.add_ticket({"id": self._serial, "subject": "kit", "status": "open"})
        return str(self._serial)

    def notes(self, ticket_id: str) -> list[KitNote]:
        return [
            KitNote(c["html_body"], internal=c["public"] is False)
            for c in self._server.comments(ticket_id)
        ]

    def fail_next(self, *status_codes: int) -> None:
        self._server.retry_after_seconds = 0
        self._server.fail_next(*status_codes)


@contextmanager
def _zendesk_stand_in() -> Iterator[StandIn]:
    with ZendeskServer(email=_ZENDESK_EMAIL, token=_ZENDESK_TOKEN) as server:
        yield _ZendeskStandIn(server)


def _zendesk_sign(body: bytes, secret: str, delivery_id: str) -> dict[str, str]:
    timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Content-Type": "application/json",
        ZENDESK_SIGNATURE: zendesk_signature(secret, timestamp, body),
        ZENDESK_TIMESTAMP: timestamp,
        ZENDESK_DELIVERY: delivery_id,
    }


def _zendesk_fixtures() -> dict[Path, Outcome]:
    own = OWN_FIXTURES / "zendesk"
    expected: dict[str, Outcome] = {
        "trigger_ticket_created.json": "created",
        "trigger_ticket_created_empty_placeholders.json": "created",
        "trigger_ticket_solved.json": "resolved",
        "event_ticket_created.json": "created",
        "event_ticket_status_solved.json": "resolved",
        "event_comment_added_own_note.json": "ignored",
        "event_ticket_priority_changed.json": "ignored",
        "event_user_created.json": "ignored",
    }
    return {own / name: outcome for name, outcome in expected.items()}


# Freshservice -------------------------------------------------------------------------------

_FRESHSERVICE_KEY = "kit-freshservice-api-key-6d5c4b"


class _FreshserviceStandIn:
    def __init__(self, server: FreshserviceServer) -> None:
        self._server = server
        self._serial = 1000
        pair = base64.b64encode(f"{_FRESHSERVICE_KEY}:X".encode()).decode()
        self.credentials: tuple[str, ...] = (_FRESHSERVICE_KEY, pair)

    def connection(self, *, api_key: str | None = None) -> ItsmConnection:
        return ItsmConnection(self._server.base_url, api_key or _FRESHSERVICE_KEY)

    def add_ticket(self) -> str:
        self._serial += 1
        self._server.add_ticket({"id": self._serial, "subject": "kit", "status": 2})
        return str(self._serial)

    def notes(self, ticket_id: str) -> list[KitNote]:
        return [
            KitNote(c["body"], internal=c["private"] is True)
            for c in self._server.conversations(ticket_id)
        ]

    def fail_next(self, *status_codes: int) -> None:
        self._server.retry_after_seconds = 0
        self._server.fail_next(*status_codes)


@contextmanager
def _freshservice_stand_in() -> Iterator[StandIn]:
    with FreshserviceServer(api_key=_FRESHSERVICE_KEY) as server:
        yield _FreshserviceStandIn(server)


def _freshservice_sign(body: bytes, secret: str, delivery_id: str) -> dict[str, str]:
    """What a Workflow Automator node sends: the secret in the custom header."""
    return {
        "Content-Type": "application/json",
        FRESHSERVICE_TOKEN: secret,
        FRESHSERVICE_DELIVERY: delivery_id,
    }


def _freshservice_fixtures() -> dict[Path, Outcome]:
    own = OWN_FIXTURES / "freshservice"
    expected: dict[str, Outcome] = {
        "workflow_ticket_created.json": "created",
        "workflow_service_request_created.json": "created",
        "workflow_ticket_resolved.json": "resolved",
        "workflow_resolved_but_reopened.json": "ignored",
        "workflow_note_added.json": "ignored",
    }
    return {own / name: outcome for name, outcome in expected.items()}


# ServiceNow -----------------------------------------------------------------------------------

_SN_USER = "aiops.integration"
_SN_PASSWORD = "kit-servicenow-password-3e7d"
_SN_CLIENT_ID = "kit-sn-oauth-client-1f0a"
_SN_CLIENT_SECRET = "kit-sn-oauth-secret-9b2c44"


class _ServiceNowStandIn:
    def __init__(self, server: ServiceNowServer) -> None:
        self._server = server
        self._serial = 0
        basic = base64.b64encode(f"{_SN_USER}:{_SN_PASSWORD}".encode()).decode()
        self.credentials: tuple[str, ...] = (_SN_PASSWORD, _SN_CLIENT_SECRET, basic)

    def connection(self, *, api_key: str | None = None) -> ItsmConnection:
        # OAuth: the harder path (token endpoint, bearer), with the password grant.
        return ItsmConnection(
            self._server.base_url,
            api_key or _SN_PASSWORD,
            username=_SN_USER,
            options={"auth": "oauth", "table": "incident", "client_id": _SN_CLIENT_ID},
            secrets={"client_secret": _SN_CLIENT_SECRET},
        )

    def add_ticket(self) -> str:
        self._serial += 1
        sys_id = f"{self._serial:032x}"
        self._server.add_record("incident", {"sys_id": sys_id, "short_description": "kit"})
        return sys_id

    def notes(self, ticket_id: str) -> list[KitNote]:
        # Internal means: a work note; a comment is e-mailed to the caller.
        return [
            KitNote(e["value"], internal=e["element"] == "work_notes")
            for e in self._server.journal(ticket_id)
        ]

    def fail_next(self, *status_codes: int) -> None:
        self._server.retry_after_seconds = 0
        self._server.fail_next(*status_codes)


@contextmanager
def _servicenow_stand_in() -> Iterator[StandIn]:
    with ServiceNowServer(
        username=_SN_USER,
        password=_SN_PASSWORD,
        client_id=_SN_CLIENT_ID,
        client_secret=_SN_CLIENT_SECRET,
    ) as server:
        yield _ServiceNowStandIn(server)


def _servicenow_sign(body: bytes, secret: str, delivery_id: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "X-AIOps-Timestamp": stamp,
        "X-AIOps-Delivery-Id": delivery_id,
        "X-AIOps-Signature": servicenow_signing.signature(secret, stamp, delivery_id, body),
    }


def _servicenow_fixtures() -> dict[Path, Outcome]:
    own = OWN_FIXTURES / "servicenow"
    expected: dict[str, Outcome] = {
        "br_incident_created.json": "created",
        "br_sc_req_item_created.json": "created",
        "br_incident_resolved.json": "resolved",
        "table_api_problem_closed.json": "resolved",
        "br_incident_updated_open.json": "ignored",
    }
    shared: dict[Path, Outcome] = {
        FIXTURES / "itsm" / "servicenow_table_get_incident_response.json": "created",
        FIXTURES / "itsm" / "servicenow_table_patch_incident_response.json": "created",
    }
    return {own / name: outcome for name, outcome in expected.items()} | shared


# ConnectWise PSA ---------------------------------------------------------------------------

_CW_COMPANY = "kitmsp"
_CW_PUBLIC = "kitPublicKey4d2a"
_CW_PRIVATE = "kit-cw-private-key-8c1e5f"
_CW_CLIENT_ID = "kit-cw-client-id-0b7d"


class _ConnectWiseStandIn:
    def __init__(self, server: ConnectWiseServer) -> None:
        self._server = server
        self._serial = 7000
        pair = f"{_CW_COMPANY}+{_CW_PUBLIC}:{_CW_PRIVATE}".encode()
        self.credentials: tuple[str, ...] = (_CW_PRIVATE, base64.b64encode(pair).decode())

    def connection(self, *, api_key: str | None = None) -> ItsmConnection:
        return ItsmConnection(
            self._server.base_url,
            api_key or _CW_PRIVATE,
            username=_CW_PUBLIC,
            options={"company": _CW_COMPANY, "client_id": _CW_CLIENT_ID},
        )

    def add_ticket(self) -> str:
        self._serial += 1
        self._server.add_ticket(
            {"id": self._serial, "summary": "kit ticket", "closedFlag": False},
            description="The kit's ticket, as ConnectWise holds it.",
        )
        return str(self._serial)

    def notes(self, ticket_id: str) -> list[KitNote]:
        # Ours only (the description is the ticket's first Discussion note). Internal means:
        # the Internal tab, neither the Discussion nor the Resolution.
        return [
            KitNote(
                n["text"],
                internal=n["internalAnalysisFlag"]
                and not n["detailDescriptionFlag"]
                and not n["resolutionFlag"],
            )
            for n in self._server.notes(ticket_id)
            if n["createdBy"] != CONNECTWISE_SEEDED
        ]

    def fail_next(self, *status_codes: int) -> None:
        self._server.retry_after_seconds = 0
        self._server.fail_next(*status_codes)


@contextmanager
def _connectwise_stand_in() -> Iterator[StandIn]:
    with ConnectWiseServer(
        company=_CW_COMPANY, public_key=_CW_PUBLIC, private_key=_CW_PRIVATE, client_id=_CW_CLIENT_ID
    ) as server:
        yield _ConnectWiseStandIn(server)


def _connectwise_sign(body: bytes, secret: str, delivery_id: str) -> dict[str, str]:
    # ConnectWise signs nothing: the secret rides in the callback URL's ?token=, which
    # ingest hands to verify() as this header (tests/ingest cover the URL form itself).
    return {"Content-Type": "application/json", URL_TOKEN_HEADER: secret}


def _connectwise_pointer(ticket_id: str) -> bytes:
    forged = {"id": int(ticket_id), "summary": "FORGED summary", "closedFlag": True}
    callback = {
        "Action": "added",
        "Type": "ticket",
        "ID": int(ticket_id),
        "Entity": json.dumps(forged),
    }
    return json.dumps(callback).encode()


def _connectwise_fixtures() -> dict[Path, Outcome]:
    own = OWN_FIXTURES / "connectwise"
    expected: dict[str, Outcome] = {
        "callback_ticket_added.json": "created",
        "callback_ticket_updated_closed.json": "resolved",
        "callback_ticket_updated_no_entity.json": "resolved",
        "callback_ticket_updated_open.json": "ignored",
        "callback_ticket_deleted.json": "ignored",
        "callback_company_updated.json": "ignored",
    }
    return {own / name: outcome for name, outcome in expected.items()}


MATERIAL: dict[str, KitMaterial] = {
    "servicedesk": KitMaterial(
        fixtures={
            FIXTURES / "itsm" / "sdp_cloud_v3_get_request_response.json": "created",
            OWN_FIXTURES / "servicedesk" / "webhook_created.json": "created",
            OWN_FIXTURES / "servicedesk" / "webhook_resolved.json": "resolved",
        },
        sign=_sdp_sign,
        stand_in=_sdp_stand_in,
    ),
    "jira": KitMaterial(fixtures=_jira_fixtures(), sign=_jira_sign, stand_in=_jira_stand_in),
    "freshservice": KitMaterial(
        fixtures=_freshservice_fixtures(),
        sign=_freshservice_sign,
        stand_in=_freshservice_stand_in,
        body_signed=False,
    ),
    "zendesk": KitMaterial(
        fixtures=_zendesk_fixtures(), sign=_zendesk_sign, stand_in=_zendesk_stand_in
    ),
    "servicenow": KitMaterial(
        fixtures=_servicenow_fixtures(), sign=_servicenow_sign, stand_in=_servicenow_stand_in
    ),
    "connectwise": KitMaterial(
        fixtures=_connectwise_fixtures(),
        sign=_connectwise_sign,
        stand_in=_connectwise_stand_in,
        body_signed=False,
        delivery_ids=False,
        pointer=_connectwise_pointer,
    ),
}


def material_for(name: str) -> KitMaterial:
    material = MATERIAL.get(name)
    if material is None:
        raise MissingKitMaterial(
            f"ITSM plugin {name!r} is registered but has no conformance kit material: add "
            "its fixtures, signer and stand-in to tests/itsm/kit/material.py (docs/plugins.md)"
        )
    problems = [str(p) for p in material.fixtures if not p.is_file()]
    if problems:
        raise MissingKitMaterial(f"plugin {name!r}: fixture files missing: {problems}")
    if "created" not in material.fixtures.values():
        raise MissingKitMaterial(f"plugin {name!r}: needs at least one 'created' fixture")
    return material


def fixture_cases(names: Any) -> list[tuple[str, Path, Outcome]]:
    """(plugin, fixture, outcome) for every plugin that has material."""
    return [
        (name, path, outcome)
        for name in names
        if name in MATERIAL
        for path, outcome in MATERIAL[name].fixtures.items()
    ]
