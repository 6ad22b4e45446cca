"""Several ingest processes against one Redis keep every guarantee: real uvicorn processes
as `aiops up` starts them (cli.system), real Redis."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import redis

from aiops.embedded import ServiceUrls
from aiops.events import shard_for
from aiops.settings import Settings
from cli import system
from tests.fakes.loopback import free_port
from tests.ingest import sdp
from tests.ingest.streams import stored_events

REPO = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit():
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


@contextlib.contextmanager
def _ingest(
    settings: Settings, urls: ServiceUrls, master_key: str, workers: int
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The base URL of ingest started with the command `aiops up` uses, once every worker
    is up."""
    port = free_port()
    ours = settings.model_copy(update={"ingest_port": port, "ingest_workers": workers})
    [spec] = [s for s in system.child_specs(ours, sys.executable) if s.name == "ingest"]
    env = system.child_env(os.environ, ours, urls) | dict(spec.extra_env)
    env |= {"AI_AGENTS_ENCRYPTION_KEY": master_key, "PYTHONPATH": str(REPO)}
    for folder in spec.fresh_dirs:  # as the supervisor prepares them
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    server = subprocess.Popen(list(spec.argv), cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, "ingest exited"
            assert time.monotonic() < deadline, "ingest was not ready in 60 s"
            with contextlib.suppress(httpx.TransportError):
                ready = httpx.get(f"{base}/health/ready", timeout=1).status_code == 200
                if ready and (workers == 1 or len(_children(server.pid)) >= workers):
                    break
            time.sleep(0.1)
        yield base, server
    finally:
        server.terminate()
        server.wait(timeout=30)


def _send(url: str, tenant: str, delivery: str) -> tuple[int, bool]:
    raw = sdp.body(delivery)
    headers = {**sdp.headers(raw, delivery_id=delivery), "Connection": "close"}
    response = httpx.post(url, params={"tenant": tenant}, content=raw, headers=headers, timeout=10)
    return response.status_code, response.json().get("duplicate")


def test_the_ingest_command_has_workers_only_when_asked(settings: Settings) -> None:
    def command(workers: int) -> list[str]:
        ours = settings.model_copy(update={"ingest_workers": workers})
        [spec] = [s for s in system.child_specs(ours, sys.executable) if s.name == "ingest"]
        return list(spec.argv)

    assert "--workers" not in command(1)
    assert command(3)[-2:] == ["--workers", "3"]


def test_a_delivery_sent_to_two_ingest_processes_at_once_is_queued_once(
    settings: Settings,
    service_urls: ServiceUrls,
    master_key: str,
    redis_client: redis.Redis,
    tenant: str,
) -> None:
    with (
        _ingest(settings, service_urls, master_key, 1) as (first, _),
        _ingest(settings, service_urls, master_key, 1) as (second, _),
        ThreadPoolExecutor(16) as pool,
    ):
        deliveries = [f"d-{n}" for n in range(20)]
        # Each delivery goes to both processes at the same moment, as a retrying ITSM
        # behind a load balancer may send it.
        answers = list(
            pool.map(
                lambda pair: _send(pair[0] + "/webhook/servicedesk", tenant, pair[1]),
                [(base, d) for d in deliveries for base in (first, second)],
            )
        )

    assert all(status == 202 for status, _ in answers)
    for n in range(len(deliveries)):
        pair = answers[2 * n : 2 * n + 2]
        assert sorted(duplicate for _, duplicate in pair) == [False, True], pair
    stream = settings.stream_name(shard_for(tenant, settings.stream_shards))
    stored = [event.event_id for event in stored_events(redis_client, stream)]
    assert sorted(stored) == sorted(deliveries)


def test_uvicorn_workers_share_the_port_and_queue_each_delivery_once(
    settings: Settings,
    service_urls: ServiceUrls,
    master_key: str,
    redis_client: redis.Redis,
    tenant: str,
) -> None:
    with (
        _ingest(settings, service_urls, master_key, 2) as (base, server),
        ThreadPoolExecutor(16) as pool,
    ):
        workers = _children(server.pid)
        deliveries = [f"d-{n}" for n in range(30)]
        # New connections each time: the kernel hands them to either worker.
        answers = list(
            pool.map(lambda d: _send(base + "/webhook/servicedesk", tenant, d), deliveries * 2)
        )
        # Whichever worker answers a scrape, it counts every worker's webhooks.
        scraped = [
            _accepted(httpx.get(f"{base}/metrics", headers={"Connection": "close"}).text)
            for _ in range(12)
        ]

    assert len(workers) >= 2
    assert all(status == 202 for status, _ in answers)
    assert sum(not duplicate for _, duplicate in answers) == len(deliveries)
    assert scraped == [float(len(deliveries))] * len(scraped)
    stream = settings.stream_name(shard_for(tenant, settings.stream_shards))
    stored = [event.event_id for event in stored_events(redis_client, stream)]
    assert sorted(stored) == sorted(deliveries)


def _accepted(metrics_text: str) -> float:
    found = re.search(
        r'^aiops_ingest_webhooks_total\{outcome="accepted",source="servicedesk"\} (\S+)$',
        metrics_text,
        re.MULTILINE,
    ) or re.search(
        r'^aiops_ingest_webhooks_total\{source="servicedesk",outcome="accepted"\} (\S+)$',
        metrics_text,
        re.MULTILINE,
    )
    assert found, metrics_text[:2000]
    return float(found.group(1))
