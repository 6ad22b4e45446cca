"""Kit cases for the optional plugin capabilities (itsm.base): they apply to every plugin
in itsm.registry that declares the capability, through its own loopback stand-in. A plugin
that declares none is not asked (the capabilities are optional); one that declares a
capability must have a client and stand-in that do it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from aiops.errors import PermanentError
from flows.writeback import marker, render_note_html
from itsm import registry
from itsm.base import LAST_FIX, SET_FIELDS, TRIAGE_FIELDS, FieldWriter, FixReader, capabilities
from tests.itsm.kit.material import TriageStandIn, material_for

DECLARING = sorted(n for n in registry.PLUGINS if capabilities(registry.plugin(n)))
SETTING_FIELDS = sorted(n for n in DECLARING if SET_FIELDS in capabilities(registry.plugin(n)))
READING_FIXES = sorted(n for n in DECLARING if LAST_FIX in capabilities(registry.plugin(n)))


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


@pytest.fixture()
def stand_in(request: pytest.FixtureRequest) -> Iterator[TriageStandIn]:
    with material_for(request.param).stand_in() as server:
        assert isinstance(server, TriageStandIn), (
            f"plugin {request.param!r} declares capabilities, but its kit stand-in cannot show "
            "ticket fields or add a technician note (tests/itsm/kit/material.py)"
        )
        yield server


def _client(name: str, stand_in: TriageStandIn, http: httpx.Client) -> object:
    return registry.plugin(name).client(stand_in.connection(), http)


def test_the_reference_plugins_declare_both_capabilities() -> None:
    # The guard against this file quietly testing nothing.
    assert {"servicedesk", "jira"} <= set(SETTING_FIELDS) & set(READING_FIXES)


@pytest.mark.parametrize(("name", "stand_in"), [(n, n) for n in DECLARING], indirect=["stand_in"])
def test_declared_capabilities_are_implemented(
    name: str, stand_in: TriageStandIn, http: httpx.Client
) -> None:
    client = _client(name, stand_in, http)
    declared = capabilities(registry.plugin(name))
    assert declared <= {SET_FIELDS, LAST_FIX}, f"unknown capabilities {declared}"
    if SET_FIELDS in declared:
        assert isinstance(client, FieldWriter)
        assert client.writable_fields and set(client.writable_fields) <= set(TRIAGE_FIELDS)
    if LAST_FIX in declared:
        assert isinstance(client, FixReader)


@pytest.mark.parametrize(
    ("name", "stand_in"), [(n, n) for n in SETTING_FIELDS], indirect=["stand_in"]
)
def test_set_fields_writes_every_writable_field_and_a_repeat_changes_nothing(
    name: str, stand_in: TriageStandIn, http: httpx.Client
) -> None:
    client = _client(name, stand_in, http)
    assert isinstance(client, FieldWriter)
    ticket = stand_in.add_ticket()
    wanted = {field: f"Kit {field} {i}" for i, field in enumerate(client.writable_fields)}
    client.set_fields(ticket, wanted)
    assert stand_in.ticket_fields(ticket) == wanted
    client.set_fields(ticket, wanted)
    assert stand_in.ticket_fields(ticket) == wanted
    first = client.writable_fields[0]
    client.set_fields(ticket, {first: "Changed"})
    assert stand_in.ticket_fields(ticket) == {**wanted, first: "Changed"}


@pytest.mark.parametrize(
    ("name", "stand_in"), [(n, n) for n in SETTING_FIELDS], indirect=["stand_in"]
)
def test_set_fields_refuses_a_field_the_itsm_lacks_and_writes_nothing(
    name: str, stand_in: TriageStandIn, http: httpx.Client
) -> None:
    client = _client(name, stand_in, http)
    assert isinstance(client, FieldWriter)
    ticket = stand_in.add_ticket()
    with pytest.raises(PermanentError):
        client.set_fields(ticket, {"colour": "blue"})
    assert stand_in.ticket_fields(ticket) == {}


@pytest.mark.parametrize(
    ("name", "stand_in"), [(n, n) for n in READING_FIXES], indirect=["stand_in"]
)
def test_last_fix_is_the_last_technician_note_and_never_our_own(
    name: str, stand_in: TriageStandIn, http: httpx.Client
) -> None:
    client = _client(name, stand_in, http)
    assert isinstance(client, FixReader)
    ticket = stand_in.add_ticket()
    assert client.last_fix(ticket) is None
    stand_in.add_technician_note(ticket, "Checked the cabling.")
    stand_in.add_technician_note(ticket, "Replaced the toner cartridge.")
    registry.plugin(name).client(stand_in.connection(), http).add_note(
        ticket, render_note_html("Try restarting the spooler.", marker("kit-fix-1"))
    )
    assert client.last_fix(ticket) == "Replaced the toner cartridge."
