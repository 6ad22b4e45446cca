"""Ingest throughput, latency and CPU per webhook: wrk against a real uvicorn on loopback.

    .venv/bin/python -m tests.bench.bench_ingest [--seconds 10] [--connections 64]
        [--workers 1 [2 ...]] [--threads 2] [--pin] [--rounds 1] [--pool N]

Needs `wrk` (Debian: apt-get install -y wrk). Two servers under the same uvicorn
settings (workers, event loop, HTTP parser), driven by the same wrk, in the same run:
- hello: a raw ASGI app that answers 200 (tests/bench/hello.py), the server's floor: once
  for wrk's own GET (the issue's baseline), once for the very POSTs ingest then gets
  (the server reads and parses the same bytes; hello does not look at them);
- ingest: POST /webhook/servicedesk, each request a signed webhook with its own delivery
  id from a pre-generated pool (tenant lookup from the cache, HMAC check, strict JSON,
  normalization, the Lua dedupe/replay/rate/XADD step on an embedded Redis that fsyncs
  its AOF on every write), answered 202 once Redis has it.
Both servers run at once for each --workers count and are measured in turn (hello GET,
hello POST, ingest), --rounds times: a neighbour's load on a shared machine then falls on
both sides of the ratio, and the median of the rounds' ratios is printed.

CPU per request is each process's user+system time over the requests answered: the
server's from /proc/PID/stat (the uvicorn process and its workers), Redis's from INFO,
wrk's from its own clock once its pool is loaded. wrk, the server and Redis share this
machine's cores, so req/s and latency also show who else runs (the load average is
printed); the ratio of CPU per request shows it less, and is printed beside the ratio
of req/s. --pin gives the server its own cores (the first --workers of them) and puts
wrk and Redis on the others, so neither steals the server's time; it needs more cores
than workers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from aiops.crypto import SecretBox, generate_key, parse_key
from aiops.embedded import embedded_redis
from aiops.events import shard_for
from aiops.settings import Settings
from aiops.tenant_directory import publish
from itsm.servicedesk import SIGNATURE_HEADER
from tests.fakes.loopback import free_port
from tests.ingest import sdp

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("wrk_webhooks.lua")
TENANT = "bench"
WEBHOOK_PATH = f"/webhook/servicedesk?tenant={TENANT}"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_RESULT = re.compile(r"RESULT (.*)")


@dataclass(frozen=True)
class Run:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    accepted: int
    duplicates: int
    other: int
    wraps: int
    socket_errors: int
    cpu_seconds: float
    wrk_cpu_seconds: float
    redis_cpu_seconds: float | None  # None: no Redis in this run

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds * 1000 / max(self.requests, 1)

    def per_request_ms(self, seconds: float) -> float:
        return seconds * 1000 / max(self.requests, 1)


def _require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        sys.exit(
            "this benchmark needs the load generator wrk, which is not installed.\n"
            "Install it (Debian/Ubuntu): apt-get update && apt-get install -y wrk"
        )
    return found


def _uvicorn(target: list[str], port: int, workers: int) -> list[str]:
    # The same settings for both servers; uvloop and httptools named rather than left to
    # uvicorn's "auto", so a missing one fails loudly instead of silently slowing a run.
    return [
        sys.executable, "-m", "uvicorn", *target,
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--http", "httptools",
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip


def _process_tree(root: int) -> list[int]:
    """`root` and its descendants (uvicorn's workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def _cpu_seconds(pids: list[int]) -> float:
    """User + system time of `pids` (fields 14 and 15 of /proc/PID/stat)."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):  # a worker that just exited
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def _redis_cpu_seconds(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


@dataclass(frozen=True)
class Cores:
    """Which cores the server may use, and which wrk and Redis may; None: any."""

    server: set[int] | None = None
    others: set[int] | None = None

    def preexec(self, cores: set[int] | None) -> Callable[[], None] | None:
        if cores is None:
            return None
        return lambda: os.sched_setaffinity(0, cores)

    def describe(self) -> str:
        if self.server is None:
            return "not pinned: wrk, the server and Redis share every core"
        return (
            f"pinned: the server on cores {sorted(self.server)}, "
            f"wrk and Redis on {sorted(self.others or ())}"
        )


def _cores(pin: bool, workers: int) -> Cores:
    available = sorted(os.sched_getaffinity(0))
    if not pin:
        return Cores()
    if workers >= len(available):
        sys.exit(
            f"--pin needs more cores than --workers ({workers}); this machine lets us use "
            f"{len(available)}: run without --pin, or with fewer workers"
        )
    return Cores(set(available[:workers]), set(available[workers:]))


@contextlib.contextmanager
def _serve(
    command: list[str], env: dict[str, str], url: str, workers: int, cores: Cores
) -> Iterator[subprocess.Popen[bytes]]:
    # The server's own log goes to a file, as a container's would go to its log pipe.
    log = open(Path(env["AI_AGENTS_STATE_DIR"]) / "server.log", "ab")  # noqa: SIM115
    server = subprocess.Popen(
        command, cwd=REPO, env=env, stderr=log, preexec_fn=cores.preexec(cores.server)
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"{command[3:5]} exited before it was ready")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[3:5]} was not ready in 60 s")
            try:
                ready = httpx.get(url, timeout=1).status_code == 200
            except httpx.TransportError:
                ready = False
            # uvicorn's workers come up one by one: wait for all of them.
            if ready and len(_process_tree(server.pid)) >= 1 + (workers > 1) * workers:
                break
            time.sleep(0.1)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _wrk(
    wrk: str, url: str, args: argparse.Namespace, seconds: float, pool: Path | None, cores: Cores
) -> dict[str, int]:
    """wrk's RESULT figures."""
    command = [
        wrk, "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds:g}s",
        "--timeout", "10s", "-s", str(SCRIPT), url,
    ]  # fmt: skip
    if pool is not None:
        command += ["--", str(pool), str(args.threads)]
    output = subprocess.run(
        command,
        check=True,
        capture_output=True,
        text=True,
        preexec_fn=cores.preexec(cores.others),
    ).stdout
    found = _RESULT.search(output)
    if found is None:
        raise RuntimeError(f"wrk printed no RESULT line:\n{output}")
    return {key: int(value) for key, value in (pair.split("=") for pair in found[1].split())}


def _measure(
    wrk: str,
    url: str,
    args: argparse.Namespace,
    server: int,
    pool: Path | None,
    cores: Cores,
    direct: redis.Redis | None,
) -> Run:
    pids = _process_tree(server)
    redis_before = _redis_cpu_seconds(direct) if direct is not None else 0.0
    before = _cpu_seconds(pids)
    result = _wrk(wrk, url, args, args.seconds, pool, cores)
    cpu = _cpu_seconds(pids) - before
    redis_cpu = None
    if direct is not None:
        time.sleep(1)  # what was in flight when wrk stopped lands first
        redis_cpu = _redis_cpu_seconds(direct) - redis_before
    return Run(
        requests=result["requests"],
        seconds=result["duration_us"] / 1e6,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        max_ms=result["max_us"] / 1000,
        accepted=result["accepted"],
        duplicates=result["duplicates"],
        other=result["other"],
        wraps=result["wraps"],
        socket_errors=result["socket_errors"],
        cpu_seconds=cpu,
        wrk_cpu_seconds=result["run_cpu_us"] / 1e6,
        redis_cpu_seconds=redis_cpu,
    )


@contextlib.contextmanager
def _profiled(pid: int, path: str | None) -> Iterator[None]:
    """py-spy (a dev tool: `pip install py-spy`) samples the server while the block runs."""
    if path is None:
        yield
        return
    spy = subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "-o", path, "--format", "raw", "-r", "200",
         "--nonblocking", "--gil"]
    )  # fmt: skip
    try:
        yield
    finally:
        spy.send_signal(2)
        spy.wait(timeout=60)


def publish_tenant(direct: redis.Redis, settings: Settings, key: str) -> None:
    """The bench tenant in the tenant directory, signing with sdp.SECRET, under a rate
    limit far above what a run sends: the figures are of the path, not the limit."""
    publish(
        direct,
        settings.stream_prefix,
        SecretBox(parse_key(key)),
        TENANT,
        "servicedesk",
        [sdp.SECRET],
        rate_per_minute=100_000_000,
    )


@dataclass(frozen=True)
class BenchRedis:
    """An embedded Redis with the bench tenant, and what a server process needs to use it."""

    state: Path
    direct: redis.Redis
    settings: Settings
    key: str
    env: dict[str, str]

    @property
    def stream(self) -> str:
        return self.settings.stream_name(shard_for(TENANT, self.settings.stream_shards))


@contextlib.contextmanager
def bench_redis() -> Iterator[BenchRedis]:
    """A state folder, its embedded Redis (AOF, fsync on every write) and the tenant."""
    key = generate_key()
    settings = Settings()
    with (
        tempfile.TemporaryDirectory(prefix="aiops-bench-", dir="/tmp") as state,
        embedded_redis(Path(state)) as redis_url,
        redis.Redis.from_url(redis_url) as direct,
    ):
        publish_tenant(direct, settings, key)
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "AI_AGENTS_REDIS_URL": redis_url,
            "AI_AGENTS_ENCRYPTION_KEY": key,
            "AI_AGENTS_STATE_DIR": state,
        }
        yield BenchRedis(Path(state), direct, settings, key, env)


def _write_pool(path: Path, first: int, count: int) -> None:
    """`count` signed webhooks, each its own ticket and delivery id."""
    with path.open("w") as out:
        for n in range(first, first + count):
            raw = sdp.body(str(n))
            signature = sdp.headers(raw)[SIGNATURE_HEADER]
            out.write(f"bench-{n}\t{signature}\t{raw.decode()}\n")


def _line(name: str, run: Run) -> str:
    redis_cpu = (
        f"  Redis {run.per_request_ms(run.redis_cpu_seconds):5.3f}"
        if run.redis_cpu_seconds is not None
        else ""
    )
    return (
        f"{name:<10} {run.rate:8.0f} req/s  p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:7.2f} ms"
        f"  max {run.max_ms:7.1f} ms  CPU ms/req: server {run.cpu_ms_per_request:5.3f}"
        f"{redis_cpu}  wrk {run.per_request_ms(run.wrk_cpu_seconds):5.3f}"
        f"  ({run.requests} requests, {run.socket_errors} socket errors)"
    )


def _load() -> str:
    return "load average " + " ".join(f"{n:.1f}" for n in os.getloadavg())


def _report(run: Run, floor: Run, floor_posts: Run, stored: int, args: argparse.Namespace) -> float:
    """Prints one round's figures; returns its ratio of req/s to hello's GET."""
    print(_line("hello GET", floor))
    print(_line("hello POST", floor_posts))
    print(_line("ingest", run))
    ratio = run.rate / floor.rate
    by_cpu = floor.cpu_ms_per_request / max(run.cpu_ms_per_request, 1e-9)
    print(
        f"ratio ingest/hello GET: req/s {ratio:.3f} (issue 14: >= 0.25, "
        f"moonshot 0.5); by server CPU per request {by_cpu:.3f}; {_load()} after"
    )
    posts_by_cpu = floor_posts.cpu_ms_per_request / max(run.cpu_ms_per_request, 1e-9)
    print(
        f"ratio ingest/hello POST (the same requests): req/s {run.rate / floor_posts.rate:.3f}; "
        f"by server CPU per request {posts_by_cpu:.3f}"
    )
    # wrk stops with requests in flight: the server may still store those (at most one
    # per connection), but their 202 is not counted.
    unanswered = stored - run.accepted
    verdict = (
        "equal to the 202s"
        if unanswered == 0
        else f"the 202s + {unanswered} in flight when wrk stopped"
        if 0 < unanswered <= args.connections
        else "NOT MATCHING the 202s"
    )
    print(
        f"answers: {run.accepted} accepted (202), {run.duplicates} duplicates, "
        f"{run.other} other; entries in the stream: {stored} ({verdict})"
    )
    if run.wraps:
        print(f"the pool ran out {run.wraps} times: raise --pool")
    return ratio


def _round(
    wrk: str,
    args: argparse.Namespace,
    workers: int,
    bench: BenchRedis,
    warmup: Path,
    measured: list[Path],
) -> None:
    """hello and ingest under `workers` uvicorn workers, both up at once and measured in
    turn (hello GET, hello POST, ingest) once per pool in `measured`: on a shared machine
    a neighbour's load then falls on both sides of a ratio, not on one of them."""
    cores = _cores(args.pin, workers)
    direct, env, stream = bench.direct, bench.env, bench.stream
    if cores.others is not None:
        os.sched_setaffinity(int(direct.info("server")["process_id"]), cores.others)
    print(
        f"\n--workers {workers}: wrk -t{args.threads} -c{args.connections}, "
        f"{args.seconds:g} s per phase, uvicorn (uvloop, httptools); "
        f"{os.cpu_count()} cores, {cores.describe()}; {_load()} before"
    )
    hello_port, ingest_port = free_port(), free_port()
    hello_base = f"http://127.0.0.1:{hello_port}"
    ingest_base = f"http://127.0.0.1:{ingest_port}"
    hello_command = _uvicorn(["tests.bench.hello:app"], hello_port, workers)
    ingest_command = _uvicorn(["--factory", "ingest.app:create_app"], ingest_port, workers)
    ratios = []
    with (
        _serve(hello_command, env, hello_base, workers, cores) as hello,
        _serve(ingest_command, env, ingest_base + "/health/ready", workers, cores) as ingest,
    ):
        _wrk(wrk, hello_base + "/", args, 2, None, cores)
        _wrk(wrk, ingest_base + WEBHOOK_PATH, args, 2, warmup, cores)
        time.sleep(1)  # what was in flight when the warm-up stopped lands first
        for n, pool in enumerate(measured, 1):
            if len(measured) > 1:
                print(f"round {n} of {len(measured)}")
            floor = _measure(wrk, hello_base + "/", args, hello.pid, None, cores, None)
            # hello keeps nothing, so the pool's delivery ids are still new to ingest.
            floor_posts = _measure(
                wrk, hello_base + WEBHOOK_PATH, args, hello.pid, pool, cores, None
            )
            direct.delete(stream)
            with _profiled(ingest.pid, args.profile if n == 1 else None):
                run = _measure(
                    wrk, ingest_base + WEBHOOK_PATH, args, ingest.pid, pool, cores, direct
                )
            ratios.append(_report(run, floor, floor_posts, int(direct.xlen(stream)), args))
    if len(ratios) > 1:
        print(
            f"ratio ingest/hello GET over {len(ratios)} rounds: median "
            f"{statistics.median(ratios):.3f} (each: {', '.join(f'{r:.3f}' for r in ratios)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per measured phase")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="uvicorn workers per server; several counts run one after the other",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the server on its own cores, wrk and Redis on the others",
    )
    parser.add_argument(
        "--pool",
        type=int,
        default=0,
        help="signed webhooks to pre-generate per round (default: enough for 8,000 req/s)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="hello and ingest measured in turn this many times (the median ratio printed)",
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="py-spy profile of the first ingest run (collapsed)"
    )
    args = parser.parse_args()
    wrk = _require_wrk()
    for workers in args.workers:
        _cores(args.pin, workers)  # refuse an impossible --pin before any work
    pool_size = args.pool or int(8000 * (args.seconds + 3))
    with bench_redis() as bench:
        first = 0
        for workers in args.workers:
            # Each round its own delivery ids: a repeat would be a cheap duplicate.
            warmup = bench.state / f"warmup-{workers}.pool"
            _write_pool(warmup, first, 2000)
            first += 2000
            measured = []
            for n in range(args.rounds):
                measured.append(bench.state / f"measured-{workers}-{n}.pool")
                _write_pool(measured[-1], first, pool_size)
                first += pool_size
            _round(wrk, args, workers, bench, warmup, measured)


if __name__ == "__main__":
    main()
