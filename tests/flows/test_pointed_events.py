"""Events that only name a ticket (ConnectWise callbacks, Event.fetch) through the whole
flow in-process: the ticket is read from the ConnectWise stand-in, never from the event."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from aiops.crypto import SecretBox
from aiops.events import Event, EventKind
from aiops.settings import Settings
from itsm.connectwise import pointer_ticket
from tests.fakes.connectwise_server import ConnectWiseServer
from tests.flows.conftest import add_tenant, dead_letters, recorded, run_flow
from tests.flows.events import entry
from warehouse.db import Database
from warehouse.tickets import all_tickets

PRIVATE = "cw-flow-private-key-6a5b4c"


@pytest.fixture()
def cw() -> Iterator[ConnectWiseServer]:
    with ConnectWiseServer(
        company="acme", public_key="pubKey", private_key=PRIVATE, client_id="cw-client"
    ) as server:
        yield server


def _pointer(tenant_id: str, ticket_id: str, kind: EventKind) -> Event:
    return Event(
        event_id=f"{tenant_id}-cw-{ticket_id}-{kind}",
        tenant_id=tenant_id,
        source="connectwise",
        kind=kind,
        ticket=pointer_ticket(ticket_id),
        received_at=datetime.now(UTC),
        fetch=True,
    )


def test_pointers_are_read_from_connectwise_enhanced_or_stored_only_if_closed(
    flow_settings: Settings,
    db: Database,
    box: SecretBox,
    redis_client: redis.Redis,
    cw: ConnectWiseServer,
    tenant_id: str,
) -> None:
    add_tenant(
        db,
        box,
        tenant_id,
        itsm_source="connectwise",
        itsm_base_url=cw.base_url,
        itsm_api_key=PRIVATE,
        itsm_username="pubKey",
        itsm_options={"company": "acme", "client_id": "cw-client"},
    )
    cw.add_ticket(
        {"id": 101, "summary": "Outlook asks for the password", "closedFlag": False},
        description="Every few minutes since this morning.",
    )
    cw.add_ticket({"id": 102, "summary": "Printer jams", "closedFlag": True}, "Tray 2 jams.")
    cw.add_resolution("102", "Replaced the worn pick-up roller in tray 2.")
    cw.add_ticket({"id": 103, "summary": "Still open", "closedFlag": False}, "Not done yet.")
    created = _pointer(tenant_id, "101", "created")
    closed, still_open = (
        _pointer(tenant_id, "102", "resolved"),
        _pointer(tenant_id, "103", "resolved"),
    )
    made_up = _pointer(tenant_id, "999", "created")

    run_flow(flow_settings, [entry(created), entry(closed), entry(still_open), entry(made_up)])

    row = recorded(db, tenant_id, created.event_id)
    assert row["status"] == "succeeded", row
    assert "fetch" in row["timings"]
    # What was enhanced (and stored) is what ConnectWise holds, not the pointer.
    with db.tenant(tenant_id) as conn:
        stored = conn.execute(
            "SELECT ticket FROM enhancement_history WHERE event_id = %s", (created.event_id,)
        ).fetchone()
    assert stored is not None
    ticket = stored["ticket"]
    assert (ticket["subject"], ticket["description"]) == (
        "Outlook asks for the password",
        "Every few minutes since this morning.",
    )
    [note] = [n for n in cw.notes("101") if n["internalAnalysisFlag"]]
    assert str(note["id"]) == row["note_id"]

    with db.tenant(tenant_id) as conn:
        history = {t.id: t for t in all_tickets(conn)}
    assert set(history) == {"102"}  # 103 is open: read, and not stored
    assert history["102"].resolution == "Replaced the worn pick-up roller in tray 2."
    assert history["102"].subject == "Printer jams"

    [letter] = dead_letters(redis_client, flow_settings)
    assert letter["event_id"] == made_up.event_id
    assert letter["error_kind"] == "permanent" and "404" in letter["error"]
