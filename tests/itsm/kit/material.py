"""What the conformance kit needs from each plugin: fixtures with their expected outcome,
how the ITSM signs a webhook, and a loopback stand-in of its REST API.

A plugin registered in itsm.registry without an entry in MATERIAL fails the kit.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from itsm.base import ItsmConnection
from itsm.jira import DELIVERY_HEADER as JIRA_DELIVERY
from itsm.jira import SIGNATURE_HEADER as JIRA_SIGNATURE
from itsm.servicedesk import DELIVERY_HEADER as SDP_DELIVERY
from itsm.servicedesk import SIGNATURE_HEADER as SDP_SIGNATURE
from itsm.signing import hex_hmac_sha256
from tests.conftest import FIXTURES
from tests.fakes.jira_server import JiraServer
from tests.fakes.sdp_server import SdpServer

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
