"""Ingest throughput and latency through a real uvicorn on loopback.

    /tmp/venv/bin/python -m tests.bench.bench_ingest [--requests 2000] [--concurrency 16]

Two phases against the same server process, same client, same run:
- baseline: GET /health, the floor of uvicorn + FastAPI + the HTTP client;
- signed: POST /webhook/servicedesk with a unique delivery id each (tenant lookup from
  the cache, HMAC check, JSON parse, normalization, the Lua dedupe-and-XADD on an
  embedded Redis that fsyncs every write).
Client and server share this machine's cores, so the figures are a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from aiops.crypto import SecretBox, generate_key, parse_key
from aiops.embedded import embedded_redis
from aiops.events import shard_for
from aiops.settings import Settings
from aiops.tenant_directory import publish
from tests.fakes.loopback import free_port
from tests.ingest import sdp

REPO = Path(__file__).resolve().parents[2]
TENANT = "bench"
MAX_REQUESTS = 20_000


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    content: bytes | None = None
    headers: dict[str, str] | None = None


def _start_server(port: int, redis_url: str, key: str, state_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AI_AGENTS_REDIS_URL": redis_url,
        "AI_AGENTS_ENCRYPTION_KEY": key,
        "AI_AGENTS_STATE_DIR": str(state_dir),
        "AI_AGENTS_LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "ingest.app:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=REPO, env=env)


def _wait_ready(base_url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("uvicorn exited before it was ready")
        try:
            if httpx.get(f"{base_url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("uvicorn was not ready in 30 s")


async def _run(
    base_url: str, calls: list[Call], concurrency: int, expect: int
) -> tuple[float, list[float], int]:
    """(seconds, per-request latencies, answers other than `expect`)."""
    latencies: list[float] = []
    unexpected = 0
    pending = iter(calls)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal unexpected
            for call in pending:
                started = time.perf_counter()
                response = await client.request(
                    call.method, call.path, content=call.content, headers=call.headers
                )
                latencies.append(time.perf_counter() - started)
                unexpected += response.status_code != expect

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, unexpected


def _report(name: str, seconds: float, latencies: list[float], unexpected: int) -> None:
    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"{name:<10} {len(latencies):6d} req  {len(latencies) / seconds:8.0f} req/s"
        f"  p50 {statistics.median(latencies) * 1000:6.2f} ms"
        f"  p95 {cuts[94] * 1000:6.2f} ms  p99 {cuts[98] * 1000:6.2f} ms"
        f"  unexpected answers {unexpected}"
    )


def _webhook(n: int, path: str) -> Call:
    raw = sdp.body(str(n))
    return Call("POST", path, raw, sdp.headers(raw, delivery_id=f"bench-{n}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=2000, help=f"per phase, at most {MAX_REQUESTS}"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    requests = min(args.requests, MAX_REQUESTS)
    key = generate_key()
    settings = Settings()
    path = f"/webhook/servicedesk?tenant={TENANT}"
    make: dict[str, Callable[[int], Call]] = {
        "baseline": lambda n: Call("GET", "/health"),
        "signed": lambda n: _webhook(n, path),
    }
    expected = {"baseline": 200, "signed": 202}

    with (
        tempfile.TemporaryDirectory(prefix="aiops-bench-", dir="/tmp") as state,
        embedded_redis(Path(state)) as redis_url,
        redis.Redis.from_url(redis_url) as direct,
    ):
        box = SecretBox(parse_key(key))
        # A rate limit far above what this sends: the figures are of the path, not the limit.
        publish(
            direct,
            settings.stream_prefix,
            box,
            TENANT,
            "servicedesk",
            [sdp.SECRET],
            rate_per_minute=1_000_000,
        )
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        server = _start_server(port, redis_url, key, Path(state))
        try:
            _wait_ready(base_url, server)
            print(
                f"{requests} requests per phase, {args.concurrency} in flight, one uvicorn worker"
            )
            warmup = [_webhook(-n - 1, path) for n in range(100)]
            asyncio.run(_run(base_url, warmup, args.concurrency, 202))
            for name, build in make.items():
                calls = [build(n) for n in range(requests)]
                _report(name, *asyncio.run(_run(base_url, calls, args.concurrency, expected[name])))
        finally:
            server.terminate()
            server.wait(timeout=15)
        stream = settings.stream_name(shard_for(TENANT, settings.stream_shards))
        print(f"entries in {stream}: {direct.xlen(stream)} (warm-up 100 + signed {requests})")


if __name__ == "__main__":
    main()
