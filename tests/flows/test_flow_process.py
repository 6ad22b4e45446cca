"""The flow as production starts it: `python -m bytewax.run` with a recovery store, fed
through the real Redis shard streams; killed and restarted like a crashed process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from aiops.crypto import SecretBox
from aiops.embedded import ServiceUrls
from aiops.events import EVENT_FIELD, Event, shard_for
from aiops.settings import Settings
from tests.fakes.sdp_server import SdpServer
from tests.flows.conftest import recorded, sdp_tenant
from tests.flows.events import event
from warehouse.db import Database

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


@contextmanager
def _flow_process(env: dict[str, str], recovery: Path, log: Path) -> Iterator[None]:
    command = [sys.executable, "-m", "bytewax.run", "flows.enhance:build_flow()"]
    command += ["-r", str(recovery), "-s", "1", "-b", "0"]
    with log.open("ab") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)
    try:
        yield
        assert process.poll() is None, f"the flow exited early; see {log}"
    finally:
        process.kill()
        process.wait(timeout=30)


def test_the_production_entry_point_handles_events_and_survives_a_crash(
    settings: Settings,
    service_urls: ServiceUrls,
    master_key: str,
    db: Database,
    box: SecretBox,
    redis_client: redis.Redis,
    sdp: SdpServer,
    tenant_id: str,
    tmp_path: Path,
) -> None:
    sdp_tenant(db, box, tenant_id, sdp)
    for ticket in ("1", "2"):
        sdp.add_request({"id": ticket})
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "1"], check=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AI_AGENTS_DATABASE_URL": service_urls.database_url,
        "AI_AGENTS_REDIS_URL": service_urls.redis_url,
        "AI_AGENTS_ENCRYPTION_KEY": master_key,
        "AI_AGENTS_STATE_DIR": str(tmp_path / "state"),
        "AI_AGENTS_STREAM_SHARDS": str(settings.stream_shards),
    }

    def send(item: Event) -> None:
        stream = settings.stream_name(shard_for(item.tenant_id, settings.stream_shards))
        redis_client.xadd(stream, {EVENT_FIELD: item.to_json()})

    def handled(item: Event) -> Callable[[], bool]:
        def check() -> bool:
            try:
                return recorded(db, item.tenant_id, item.event_id)["status"] == "succeeded"
            except AssertionError:
                return False

        return check

    first, second = event(tenant_id, "1", "VPN down"), event(tenant_id, "2", "Disk full")
    log = tmp_path / "flow.log"
    with _flow_process(env, recovery, log):
        send(first)
        _wait_for(handled(first), "the first event")
    with _flow_process(env, recovery, log):
        send(second)
        _wait_for(handled(second), "the second event after a restart")

    # Whether or not the first event's snapshot was written before the kill, it has
    # exactly one note: a replay finds the recorded note instead of posting again.
    assert len(sdp.notes("1")) == 1
    assert len(sdp.notes("2")) == 1
