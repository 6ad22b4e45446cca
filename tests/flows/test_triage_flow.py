"""Triage in the running flow (real PostgreSQL, Redis, the SDP stand-in): noise skipped
with its reason, suggestions in the note and on the ticket, ongoing incidents, and the fix
read from the ticket's notes when the resolution only names a status."""

from __future__ import annotations

from typing import Any

from aiops.crypto import SecretBox
from aiops.events import Ticket
from aiops.settings import Settings
from tests.fakes.openai_server import OpenAiServer
from tests.fakes.sdp_server import SdpServer
from tests.flows.conftest import recorded, run_flow, sdp_tenant, seed
from tests.flows.events import entry, event
from warehouse import triage
from warehouse.db import Database


def _history(n: int, **fields: Any) -> list[Ticket]:
    return [
        Ticket(
            id=f"h{i}",
            subject="Outlook keeps asking for the password",
            description="Outlook prompts for credentials again and again after the change.",
            resolution="Cleared the cached credentials in Credential Manager.",
            **fields,
        )
        for i in range(n)
    ]


def _row(db: Database, tenant_id: str, event_id: str) -> dict[str, Any]:
    with db.tenant(tenant_id) as conn:
        row = conn.execute(
            "SELECT status, skip_reason, triage, output, context FROM enhancement_history "
            "WHERE event_id = %s",
            (event_id,),
        ).fetchone()
    assert row is not None
    return dict(row)


def test_noise_gets_no_note_and_is_recorded_as_skipped_with_its_reason(
    flow_settings: Settings, db: Database, box: SecretBox, sdp: SdpServer, tenant_id: str
) -> None:
    sdp_tenant(db, box, tenant_id, sdp)
    sdp.add_request({"id": "501"})
    sdp.add_request({"id": "502"})
    ooo = event(
        tenant_id,
        "501",
        "Automatic reply: Printer on floor 2",
        "I am out of the office and will return on Monday 12 May.",
    )
    real = event(tenant_id, "502", "Printer on floor 2 jammed", "Paper jam in tray 2.")

    runtime = run_flow(flow_settings, [entry(ooo), entry(real)])

    skipped = _row(db, tenant_id, ooo.event_id)
    assert skipped["status"] == "skipped" and skipped["skip_reason"] == "out_of_office"
    assert skipped["context"]["noise"]["evidence"]
    assert sdp.notes("501") == []
    assert recorded(db, tenant_id, real.event_id)["status"] == "succeeded"
    assert len(sdp.notes("502")) == 1
    registry = runtime.metrics.registry
    noise = registry.get_sample_value("aiops_flow_noise_skipped_total", {"reason": "out_of_office"})
    assert noise == 1
    requests = registry.get_sample_value(
        "enhancement_requests_total", {"tenant_id": tenant_id, "status": "skipped"}
    )
    assert requests == 1


def test_suggestions_are_in_the_note_stored_and_written_where_the_tenant_allows(
    flow_settings: Settings, db: Database, box: SecretBox, sdp: SdpServer, tenant_id: str
) -> None:
    sdp_tenant(db, box, tenant_id, sdp)
    seed(db, tenant_id, history=_history(5, category="Email", priority="High"))
    with db.tenant(tenant_id) as conn:
        triage.set_settings(conn, write_fields=True, threshold=0.7, fields=["category"])
    sdp.add_request({"id": "600", "subject": "Outlook password"})
    ask = event(tenant_id, "600", "Outlook asks for the password", "Outlook keeps prompting.")

    runtime = run_flow(flow_settings, [entry(ask)])

    row = _row(db, tenant_id, ask.event_id)
    assert row["status"] == "succeeded"
    stored = {s["field"]: s for s in row["triage"]["suggestions"]}
    assert stored["category"]["value"] == "Email" and stored["priority"]["value"] == "High"
    assert stored["category"]["confidence"] >= 0.7
    # Only the field the tenant chose is written; priority stays as the requester set it.
    assert row["triage"]["written"] == {"category": "Email"}
    request = sdp.request("600")
    assert request["category"] == {"name": "Email"} and "priority" not in request
    (note,) = sdp.notes("600")
    assert "Category: Email (" in note["description"]
    assert "set on the ticket" in note["description"]
    assert "Priority: High (" in note["description"]
    assert "Category: Email (" in row["output"]
    written = runtime.metrics.registry.get_sample_value(
        "aiops_flow_triage_fields_written_total", {"field": "category"}
    )
    assert written == 1


def test_type_is_learned_from_the_history_shown_and_written_as_the_request_type(
    flow_settings: Settings, db: Database, box: SecretBox, sdp: SdpServer, tenant_id: str
) -> None:
    sdp_tenant(db, box, tenant_id, sdp)
    # As the SDP plugin and imports keep it: the request type among the extra fields.
    seed(
        db,
        tenant_id,
        history=[
            *_history(4, category="Email", extra={"request_type": "Incident"}),
            Ticket(
                id="other",
                subject="New starter needs a laptop",
                description="Order a laptop for the new starter in accounts.",
                extra={"request_type": "Service Request"},
            ),
        ],
    )
    with db.tenant(tenant_id) as conn:
        assert triage.value_counts(conn)["type"] == {"Incident": 4, "Service Request": 1}
        triage.set_settings(conn, write_fields=True, threshold=0.7, fields=["type"])
    sdp.add_request({"id": "630", "subject": "Outlook password"})
    ask = event(tenant_id, "630", "Outlook asks for the password", "Outlook keeps prompting.")

    run_flow(flow_settings, [entry(ask)])

    row = _row(db, tenant_id, ask.event_id)
    stored = {s["field"]: s for s in row["triage"]["suggestions"]}
    assert stored["type"]["value"] == "Incident" and stored["type"]["votes"] == 4
    assert stored["type"]["prior"] == round(4 / 6, 3)
    assert stored["type"]["confidence"] >= 0.7
    assert row["triage"]["written"] == {"type": "Incident"}
    assert sdp.request("630")["request_type"] == {"name": "Incident"}
    (note,) = sdp.notes("630")
    assert "Type: Incident (" in note["description"]


def test_nothing_is_written_to_the_ticket_unless_the_tenant_turned_it_on(
    flow_settings: Settings, db: Database, box: SecretBox, sdp: SdpServer, tenant_id: str
) -> None:
    sdp_tenant(db, box, tenant_id, sdp)
    seed(db, tenant_id, history=_history(5, category="Email"))
    sdp.add_request({"id": "610", "subject": "Outlook password"})
    ask = event(tenant_id, "610", "Outlook asks for the password", "Outlook keeps prompting.")

    run_flow(flow_settings, [entry(ask)])

    row = _row(db, tenant_id, ask.event_id)
    assert row["triage"]["suggestions"] and row["triage"]["written"] == {}
    assert "category" not in sdp.request("610")


def test_a_ticket_like_ones_opened_minutes_ago_says_it_may_be_the_same_incident(
    flow_settings: Settings, db: Database, box: SecretBox, sdp: SdpServer, tenant_id: str
) -> None:
    sdp_tenant(db, box, tenant_id, sdp)
    texts = [
        ("701", "SRV-FS01 not reachable", "Mapped drives on SRV-FS01 are gone."),
        ("702", "Cannot open files", "Everything on srv-fs01 hangs."),
        ("703", "Share down?", "Is SRV-FS01 down? Nobody can save."),
    ]
    runtime = None
    for ticket_id, subject, body in texts:
        sdp.add_request({"id": ticket_id})
        runtime = run_flow(flow_settings, [entry(event(tenant_id, ticket_id, subject, body))])

    (first,) = sdp.notes("701")
    assert "Possibly the same incident" not in first["description"]
    (last,) = sdp.notes("703")
    assert "Possibly the same incident as #701, #702: 3 tickets in" in last["description"]
    row = _row(db, tenant_id, f"{tenant_id}-703-created")
    assert row["triage"]["incident"]["related"] == ["701", "702"]
    assert runtime is not None
    burst = runtime.metrics.registry.get_sample_value(
        "aiops_flow_incident_tickets_total", {"tenant_id": tenant_id}
    )
    assert burst == 1


def test_recent_tickets_without_a_usable_stored_signature_are_compared_by_their_text(
    flow_settings: Settings, db: Database, box: SecretBox, sdp: SdpServer, tenant_id: str
) -> None:
    """Only rows without a stored signature bring their text along; a stored one that is
    not a signature (not an object, or an object of the wrong shape) is read as text too."""
    sdp_tenant(db, box, tenant_id, sdp)
    texts = [
        ("711", "SRV-FS02 not reachable", "Mapped drives on SRV-FS02 are gone."),
        ("712", "Cannot open files", "Everything on srv-fs02 hangs."),
    ]
    for ticket_id, subject, body in texts:
        sdp.add_request({"id": ticket_id})
        run_flow(flow_settings, [entry(event(tenant_id, ticket_id, subject, body))])
    spoiled = {"711": '"not an object"', "712": '{"hosts": "srv-fs02"}'}
    with db.tenant(tenant_id) as conn:
        for ticket_id, raw in spoiled.items():
            conn.execute(
                "UPDATE enhancement_history SET triage = jsonb_build_object('signature', %s::jsonb)"
                " WHERE ticket_id = %s",
                (raw, ticket_id),
            )
    sdp.add_request({"id": "713"})
    run_flow(flow_settings, [entry(event(tenant_id, "713", "Share down?", "Is SRV-FS02 down?"))])

    (last,) = sdp.notes("713")
    assert "Possibly the same incident as #711, #712: 3 tickets in" in last["description"]


def test_an_incident_is_per_tenant(
    flow_settings: Settings, db: Database, box: SecretBox, sdp: SdpServer, tenant_id: str
) -> None:
    other = f"{tenant_id}-b"
    sdp_tenant(db, box, tenant_id, sdp)
    sdp_tenant(db, box, other, sdp)
    sdp.add_request({"id": "801"})
    sdp.add_request({"id": "802"})
    run_flow(flow_settings, [entry(event(other, "801", "SRV-FS01 down", "srv-fs01 hangs"))])
    run_flow(flow_settings, [entry(event(tenant_id, "802", "SRV-FS01 down", "srv-fs01 hangs"))])

    (note,) = sdp.notes("802")
    assert "Possibly the same incident" not in note["description"]


def test_a_status_word_resolution_takes_the_fix_from_the_last_technician_note(
    flow_settings: Settings, db: Database, box: SecretBox, sdp: SdpServer, tenant_id: str
) -> None:
    sdp_tenant(db, box, tenant_id, sdp)
    sdp.add_request({"id": "900"})
    sdp.add_technician_note("900", "<p>Checked the cable.</p>")
    sdp.add_technician_note("900", "<p>Replaced the <b>toner</b> cartridge; prints again.</p>")
    sdp.add_technician_note("900", "<p>Suggested steps ... [AI Ops ref e-1]</p>")
    sdp.add_request({"id": "901"})
    sdp.add_request({"id": "902"})
    fixed = event(tenant_id, "900", "Printer streaks", kind="resolved", resolution="Fixed")
    kept = event(tenant_id, "901", "VPN", kind="resolved", resolution="Reinstalled the VPN client.")
    empty = event(tenant_id, "902", "Slow PC", kind="resolved", resolution="Resolved")

    runtime = run_flow(flow_settings, [entry(fixed), entry(kept), entry(empty)])

    with db.tenant(tenant_id) as conn:
        rows = {
            r["ticket_id"]: r
            for r in conn.execute("SELECT ticket_id, resolution, extra FROM ticket_history")
        }
    assert rows["900"]["resolution"] == "Replaced the toner cartridge; prints again."
    assert rows["900"]["extra"]["resolution_name"] == "Fixed"
    assert rows["901"]["resolution"] == "Reinstalled the VPN client."
    # No note to take it from: no fix rather than the status word as the fix.
    assert rows["902"]["resolution"] is None
    assert rows["902"]["extra"]["resolution_name"] == "Resolved"
    registry = runtime.metrics.registry
    assert registry.get_sample_value("aiops_flow_fix_lookups_total", {"outcome": "found"}) == 1
    assert registry.get_sample_value("aiops_flow_fix_lookups_total", {"outcome": "none"}) == 1


def test_the_models_structured_answer_joins_the_vote_and_leaves_the_note(
    flow_settings: Settings, db: Database, box: SecretBox, sdp: SdpServer, tenant_id: str
) -> None:
    with OpenAiServer("sk-test") as llm:
        llm.reply_suffix = (
            '\nTRIAGE {"category": "Email", "priority": "Low", "type": "Incident", '
            '"confidence": 0.6}'
        )
        sdp_tenant(
            db,
            box,
            tenant_id,
            sdp,
            llm_model="openai/primary",
            llm_api_base=llm.base_url,
            llm_api_key="sk-test",
        )
        seed(db, tenant_id, history=_history(5, category="Email", priority="High"))
        with db.tenant(tenant_id) as conn:
            triage.set_settings(conn, write_fields=True, threshold=0.5)
        sdp.add_request({"id": "620", "subject": "Outlook password"})
        ask = event(tenant_id, "620", "Outlook asks for the password", "Outlook keeps prompting.")

        run_flow(flow_settings, [entry(ask)])

        prompt = llm.requests[0]["messages"][1]["content"]
    assert "Filed as: category Email, priority High" in prompt
    row = _row(db, tenant_id, ask.event_id)
    stored = {s["field"]: s for s in row["triage"]["suggestions"]}
    assert stored["category"]["origin"] == "similar resolved tickets and the model"
    assert stored["priority"]["value"] == "High"  # the history was surer
    assert stored["type"] == {
        "field": "type",
        "value": "Incident",
        "confidence": 0.6,
        "origin": "model",
        "votes": 0,
        "voters": 0,
        "prior": 0.0,
    }
    # The model alone (type) is not written: the ticket's text may have steered it.
    assert row["triage"]["written"] == {"category": "Email", "priority": "High"}
    (note,) = sdp.notes("620")
    assert "TRIAGE {" not in note["description"] and "TRIAGE {" not in row["output"]
    assert "the model agrees" in note["description"]
