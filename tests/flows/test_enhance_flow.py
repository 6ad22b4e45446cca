"""The enhancement flow in-process (Bytewax run_main) against real PostgreSQL and Redis,
the ServiceDesk Plus stand-in and, for the LLM, litellm against the OpenAI stand-in."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import redis
from bytewax.testing import run_main

from aiops.crypto import SecretBox
from aiops.events import EVENT_FIELD, Ticket
from aiops.settings import Settings
from flows.enhance import build_flow
from flows.runtime import FlowRuntime
from flows.source import RedisStreamSource
from flows.writeback import marker
from itsm.base import ItsmConnection
from itsm.servicedesk import ServiceDeskClient
from tests.fakes.sdp_server import SdpServer
from tests.flows.conftest import (
    SDP_KEY,
    add_tenant,
    dead_letters,
    put_entries,
    recorded,
    run_flow,
    sdp_tenant,
    seed,
)
from tests.flows.events import entry, event
from warehouse import enhancements
from warehouse.db import Database
from warehouse.knowledge import Article, Host
from warehouse.tickets import all_tickets

VPN_FIX = "Raised the IKE phase-1 lifetime on the FortiGate to 8 hours"


def _seed_vpn_history(db: Database, tenant_id: str) -> None:
    seed(
        db,
        tenant_id,
        history=[
            Ticket(
                id="H1",
                subject="VPN disconnects every hour for remote staff",
                description="Remote users lose the VPN tunnel on the hour.",
                resolution=VPN_FIX,
            ),
            Ticket(id="H2", subject="Printer jam on floor 2", resolution="Cleared the paper"),
        ],
        articles=[Article("KB-7", "Resetting the VPN client", "Uninstall, reboot, reinstall.")],
        hosts=[Host("srv-vpn01", "10.0.0.9", "firewall", "FortiOS", "HQ", "netops")],
    )


def test_events_become_one_note_each_history_rows_and_dead_letters(
    flow_settings: Settings,
    db: Database,
    box: SecretBox,
    redis_client: redis.Redis,
    sdp: SdpServer,
    tenant_id: str,
) -> None:
    writes_back, stores_only = tenant_id, f"{tenant_id}-b"
    sdp_tenant(db, box, writes_back, sdp)
    add_tenant(db, box, stores_only)
    _seed_vpn_history(db, writes_back)
    sdp.add_request({"id": "101", "subject": "VPN drops"})

    vpn = event(
        writes_back,
        "101",
        "VPN disconnects every hour",
        "Remote staff lose the VPN on srv-vpn01 every hour since Monday.",
    )
    resolved = event(
        writes_back, "90", "Outlook crashes", kind="resolved", resolution="Repaired Office"
    )
    stored = event(stores_only, "7", "New starter needs a laptop")
    unknown_tenant = event("t-nobody-here", "1", "Who am I")
    poison = entry({EVENT_FIELD: '{"event_id": "half an event'})
    entries = [entry(vpn), poison, entry(resolved), entry(vpn), entry(stored)]
    entries.append(entry(unknown_tenant))

    runtime = run_flow(flow_settings, entries)

    [note] = sdp.notes("101")
    assert VPN_FIX in note["description"]
    assert marker(vpn.event_id) in note["description"]
    assert "composed offline" in note["description"]
    row = recorded(db, writes_back, vpn.event_id)
    assert row["status"] == "succeeded"
    assert row["note_id"] == str(note["id"])
    assert row["synthesizer"] == "offline"
    assert row["attempts"] == 1
    context = row["context"]
    assert context["sources"]["similar_tickets"] == "ok"
    assert context["similar_tickets"][0]["ticket_id"] == "H1"
    assert context["kb_articles"][0]["article_id"] == "KB-7"
    assert [h["hostname"] for h in context["hosts"]] == ["srv-vpn01"]
    assert context["sources"]["monitoring"] == "skipped: not configured"
    assert {"tenant", "begin", "gather", "synthesize", "write_back", "total"} <= set(row["timings"])

    with db.tenant(writes_back) as conn:
        history = {t.id: t for t in all_tickets(conn)}
    assert history["90"].resolution == "Repaired Office"

    row = recorded(db, stores_only, stored.event_id)
    assert row["status"] == "stored"
    assert row["note_id"] is None
    assert row["synthesizer"] == "offline"
    assert "Nothing similar is on record yet" in row["output"]

    letters = dead_letters(redis_client, flow_settings)
    by_kind = {letter["error_kind"]: letter for letter in letters}
    assert len(letters) == 2
    in_stream: Any = redis_client.xrange(flow_settings.stream_name(0))
    poison_id = in_stream[1][0].decode()
    assert by_kind["undecodable"]["source_id"] == poison_id
    assert by_kind["undecodable"][EVENT_FIELD] == '{"event_id": "half an event'
    assert by_kind["permanent"]["event_id"] == unknown_tenant.event_id
    assert "unknown tenant" in by_kind["permanent"]["error"]

    sample = runtime.metrics.registry.get_sample_value
    assert sample("aiops_flow_events_total", {"outcome": "succeeded"}) == 1
    assert sample("aiops_flow_events_total", {"outcome": "stored"}) == 1


def test_an_event_seen_again_later_gets_no_second_note(
    flow_settings: Settings, db: Database, box: SecretBox, sdp: SdpServer, tenant_id: str
) -> None:
    sdp_tenant(db, box, tenant_id, sdp)
    sdp.add_request({"id": "5"})
    again = event(tenant_id, "5", "Disk full on srv-fs02")
    no_window = flow_settings.model_copy(update={"flow_dedupe_seconds": 0})

    run_flow(no_window, [entry(again)])
    run_flow(no_window, [entry(again), entry(again)])

    assert len(sdp.notes("5")) == 1
    assert sdp.note_posts == 1
    row = recorded(db, tenant_id, again.event_id)
    assert row["status"] == "succeeded"
    assert row["attempts"] == 2


def test_a_note_posted_before_a_crash_is_found_by_its_marker_not_posted_again(
    flow_settings: Settings, db: Database, box: SecretBox, sdp: SdpServer, tenant_id: str
) -> None:
    sdp_tenant(db, box, tenant_id, sdp)
    sdp.add_request({"id": "8"})
    crashed = event(tenant_id, "8", "Mailbox full")
    with db.tenant(tenant_id) as conn:  # the crashed attempt's begin
        assert enhancements.begin(conn, crashed) is None
    with httpx.Client() as http:
        client = ServiceDeskClient(ItsmConnection(sdp.base_url, SDP_KEY, "onprem"), http)
        posted = client.add_note("8", f"<p>earlier note</p><p>{marker(crashed.event_id)}</p>")

    run_flow(flow_settings, [entry(crashed)])

    assert sdp.note_posts == 1
    assert recorded(db, tenant_id, crashed.event_id)["note_id"] == posted


def test_a_first_attempt_posts_without_searching_the_ticket_for_its_note(
    flow_settings: Settings, db: Database, box: SecretBox, sdp: SdpServer, tenant_id: str
) -> None:
    """Its history row is new, so no earlier attempt can have posted: the read is skipped."""
    sdp_tenant(db, box, tenant_id, sdp)
    sdp.add_request({"id": "9"})
    fresh = event(tenant_id, "9", "Printer offline")

    run_flow(flow_settings, [entry(fresh)])

    assert sdp.note_posts == 1
    assert sdp.note_reads == 0
    assert recorded(db, tenant_id, fresh.event_id)["status"] == "succeeded"


def test_backfills_rewrite_history_and_post_again_only_when_asked(
    flow_settings: Settings, db: Database, box: SecretBox, sdp: SdpServer, tenant_id: str
) -> None:
    sdp_tenant(db, box, tenant_id, sdp)
    sdp.add_request({"id": "3"})
    original = event(tenant_id, "3", "Teams keeps crashing")
    run_flow(flow_settings, [entry(original)])
    first_note = recorded(db, tenant_id, original.event_id)["note_id"]

    quiet = original.model_copy(update={"backfill": True, "repost": False})
    run_flow(flow_settings, [entry(quiet)])
    row = recorded(db, tenant_id, original.event_id)
    assert (row["attempts"], row["backfill"], row["note_id"]) == (2, True, first_note)
    assert len(sdp.notes("3")) == 1

    loud = original.model_copy(update={"backfill": True, "repost": True})
    run_flow(flow_settings, [entry(loud)])
    notes = sdp.notes("3")
    assert len(notes) == 2
    assert marker(original.event_id, repost=3) in notes[1]["description"]
    assert recorded(db, tenant_id, original.event_id)["note_id"] == str(notes[1]["id"])


def test_a_failing_itsm_fails_its_events_only_and_transient_errors_are_retried(
    flow_settings: Settings,
    db: Database,
    box: SecretBox,
    redis_client: redis.Redis,
    sdp: SdpServer,
    tenant_id: str,
) -> None:
    bad_key, flaky = tenant_id, f"{tenant_id}-f"
    add_tenant(
        db,
        box,
        bad_key,
        itsm_base_url=sdp.base_url,
        itsm_flavor="onprem",
        itsm_api_key="wrong-key",
    )
    sdp_tenant(db, box, flaky, sdp)
    sdp.add_request({"id": "1"})
    sdp.add_request({"id": "2"})
    refused = event(bad_key, "1", "Password reset")
    retried = event(flaky, "2", "Password reset")
    sdp.fail_next(503, 503)

    run_flow(flow_settings, [entry(refused), entry(retried)])

    assert recorded(db, flaky, retried.event_id)["status"] == "succeeded"
    assert len(sdp.notes("2")) == 1
    assert sdp.notes("1") == []
    failed = recorded(db, bad_key, refused.event_id)
    assert (failed["status"], failed["error_kind"]) == ("failed", "permanent")
    assert "401" in failed["error"]
    assert failed["output"]  # the note that could not be posted is kept
    [letter] = dead_letters(redis_client, flow_settings)
    assert letter["event_id"] == refused.event_id
    assert letter["error_kind"] == "permanent"
    assert letter[EVENT_FIELD] == refused.to_json()


def test_the_flow_builds_without_connecting(flow_settings: Settings) -> None:
    unreachable = flow_settings.model_copy(
        update={
            "database_url": "postgresql://nobody@127.0.0.1:1/none",
            "redis_url": "redis://127.0.0.1:1/0",
        }
    )
    runtime = FlowRuntime(unreachable)
    flow = build_flow(unreachable, runtime=runtime)
    assert flow.flow_id == "enhance"
    runtime.close()


def test_resolved_tickets_of_an_unknown_tenant_are_dead_lettered(
    flow_settings: Settings, redis_client: redis.Redis
) -> None:
    orphan = event("t-nobody-here", "4", "Old", kind="resolved", resolution="Fixed")

    run_flow(flow_settings, [entry(orphan)])

    [letter] = dead_letters(redis_client, flow_settings)
    assert (letter["event_id"], letter["error_kind"]) == (orphan.event_id, "permanent")
    assert "ForeignKeyViolation" in letter["error"]


def test_metrics_are_served_while_the_flow_runs(
    flow_settings: Settings, db: Database, box: SecretBox, tenant_id: str
) -> None:
    add_tenant(db, box, tenant_id)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    served = flow_settings.model_copy(update={"flow_metrics_port": port, "host": "127.0.0.1"})
    put_entries(served, [entry(event(tenant_id, "1", "x"))])
    runtime = FlowRuntime(served)
    try:
        source = RedisStreamSource(served, runtime.window, runtime.acks, stop_when_drained=True)
        flow = build_flow(served, source=source, runtime=runtime)
        idle = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        run_main(flow)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        runtime.close()
    assert "aiops_flow_in_flight 0.0" in idle  # served before the first event
    assert 'aiops_flow_events_total{outcome="stored"} 1.0' in text
    assert 'aiops_flow_stage_seconds_count{stage="gather"} 1.0' in text
    assert "aiops_flow_in_flight 0.0" in text
