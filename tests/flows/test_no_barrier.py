"""In-process (run_main, real Redis source, real PostgreSQL, litellm's route to the OpenAI
stand-in): each event finishes on its own, and a tenant alone fills the whole window."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from aiops.crypto import SecretBox
from aiops.settings import Settings
from tests.fakes.sdp_server import SdpServer
from tests.flows.conftest import recorded, run_flow, sdp_tenant
from tests.flows.events import entry, event
from tests.flows.test_llm_and_sources import CountingOpenAiServer
from warehouse.db import Database

LLM_KEY = "sk-window"
SLOW = "SLOW-CALL-7Q"


@pytest.fixture()
def llm() -> Iterator[CountingOpenAiServer]:
    with CountingOpenAiServer(LLM_KEY) as server:
        yield server


def test_a_slow_llm_call_holds_no_other_event_and_a_lone_tenant_fills_the_window(
    flow_settings: Settings,
    db: Database,
    box: SecretBox,
    sdp: SdpServer,
    llm: CountingOpenAiServer,
    tenant_id: str,
) -> None:
    settings = flow_settings.model_copy(
        update={
            "flow_concurrency": 6,
            "llm_model": "openai/gpt-4o-mini",
            "llm_api_base": llm.base_url,
            "llm_api_key": SecretStr(LLM_KEY),
        }
    )
    sdp_tenant(db, box, tenant_id, sdp)
    llm.delay_seconds = 0.4
    llm.delays_by_text = {SLOW: 4.0}
    slow = event(tenant_id, "1", f"Printer {SLOW}")
    quick = [event(tenant_id, str(n), f"Ticket {n}") for n in range(2, 20)]
    for item in (slow, *quick):
        sdp.add_request({"id": item.ticket.id})

    run_flow(settings, [entry(slow)] + [entry(e) for e in quick])

    slow_done = recorded(db, tenant_id, slow.event_id)["finished_at"]
    quick_done = [recorded(db, tenant_id, e.event_id)["finished_at"] for e in quick]
    # 18 quick events through the 5 slots the slow one leaves: about 1.5 s, all while the
    # slow call (4 s) is still waiting for its answer.
    assert max(quick_done) < slow_done
    assert all(len(sdp.notes(e.ticket.id)) == 1 for e in (slow, *quick))
    # One tenant, nobody else waiting: no per-tenant cap, every slot in use.
    assert llm.max_in_flight == settings.flow_concurrency
