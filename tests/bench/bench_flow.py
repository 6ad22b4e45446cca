"""The real enhancement flow under load, beside the original design, in one script.

    python -m tests.bench.bench_flow [--events 600] [--tenants 20] [--llm-seconds 1.0]
        [--flood 2000] [--memory-events 0] [--skip-baseline]

Full figures of issue 14: `--events 3000 --flood 10000 --memory-events 10000`.

Everything is real but the two services that cannot run here: embedded PostgreSQL and
Redis, `python -m bytewax.run flows.enhance:build_flow()` as its own process (default
settings), ticket history loaded per tenant (Hadoop Jira corpus), the flow's
OpenAI-compatible client (flows.synthesis.openai_compat, as for any "openai/<model>"
with an API base) against the OpenAI stand-in (answers after `--llm-seconds`), our ServiceDesk
Plus client against the SDP stand-in. Events go straight onto the shard streams, as
ingest puts them, with `received_at` set as they are added; "webhook -> note" ends when
the SDP stand-in stores the note.

Figures: events/s; CPU ms per event = the flow process's CPU time (user + system, from
/proc) over the measured events, which leaves out the stand-ins' and the databases' work;
peak in flight (the flow's own gauge); overhead = webhook -> note minus the LLM's answer
time, p50/p95, at half of the measured capacity; a quiet tenant's p95 while another
floods, on the same shard and on another; 1 vs 2 flow processes (a Bytewax cluster).

Baseline, same run: the original design, four worker processes taking one event at a
time each (a consumer group on the same streams) through the same per-event code
(`flows.process.process_event` with the flow's own services).
The machine is shared: CPU ms per event is the robust figure.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis
from pydantic import SecretStr

from aiops.crypto import SecretBox, generate_key, parse_key
from aiops.embedded import ServiceUrls, services
from aiops.events import EVENT_FIELD, Event, Ticket, shard_for
from aiops.settings import Settings
from tests.bench.corpus import load_issues
from tests.fakes.loopback import free_port
from tests.fakes.openai_server import OpenAiServer
from tests.fakes.sdp_server import SdpServer
from warehouse import migrate, tenant_context
from warehouse.db import Database
from warehouse.tenant_context import context_keys
from warehouse.tenants import TenantConfig, create_tenant
from warehouse.tickets import upsert_tickets

REPO = Path(__file__).resolve().parents[2]
LLM_KEY = "sk-bench"
SDP_KEY = "sdp-bench"
HISTORY_PER_TENANT = 300
_ticket_ids = itertools.count(1)


@dataclass
class World:
    urls: ServiceUrls
    key: str
    state: Path
    llm: OpenAiServer
    sdp: SdpServer
    settings: Settings
    issues: list[tuple[str, str]]


# Setting up ---------------------------------------------------------------------------------


def _env(world: World, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "AI_AGENTS_DATABASE_URL": world.urls.database_url,
        "AI_AGENTS_REDIS_URL": world.urls.redis_url,
        "AI_AGENTS_ENCRYPTION_KEY": world.key,
        "AI_AGENTS_STATE_DIR": str(world.state),
        "AI_AGENTS_LOG_LEVEL": "WARNING",
        "AI_AGENTS_LLM_MODEL": "openai/gpt-4o-mini",
        "AI_AGENTS_LLM_API_BASE": world.llm.base_url,
        "AI_AGENTS_LLM_API_KEY": LLM_KEY,
        "AI_AGENTS_TENANT_CACHE_SECONDS": "3600",
        **extra,
    }


def _add_tenants(world: World, db: Database, box: SecretBox, names: Sequence[str]) -> None:
    issues = world.issues
    for n, name in enumerate(names):
        create_tenant(
            db,
            box,
            TenantConfig(
                tenant_id=name,
                display_name=name,
                itsm_base_url=world.sdp.base_url,
                itsm_flavor="onprem",
                itsm_api_key=SDP_KEY,
            ),
        )
        start = (n * HISTORY_PER_TENANT) % max(1, len(issues) - HISTORY_PER_TENANT)
        history = [
            Ticket(id=f"H{i}", subject=s, description=d, resolution=f"Fixed as in {s[:40]}")
            for i, (s, d) in enumerate(issues[start : start + HISTORY_PER_TENANT])
        ]
        with db.tenant(name) as conn:
            upsert_tickets(conn, history, "import")


def _event(world: World, tenant: str) -> Event:
    ticket_id = str(next(_ticket_ids))
    subject, description = world.issues[int(ticket_id) % len(world.issues)]
    world.sdp.add_request({"id": ticket_id, "subject": subject})
    return Event(
        event_id=f"{tenant}-{ticket_id}",
        tenant_id=tenant,
        source="servicedesk",
        kind="created",
        ticket=Ticket(id=ticket_id, subject=subject, description=description[:2000]),
        received_at=datetime.now(UTC),
    )


def _send(world: World, client: redis.Redis, events: Sequence[Event]) -> None:
    shards = world.settings.stream_shards
    with client.pipeline(transaction=False) as pipe:
        for item in events:
            item.received_at = datetime.now(UTC)
            stream = world.settings.stream_name(shard_for(item.tenant_id, shards))
            pipe.xadd(stream, {EVENT_FIELD: item.to_json()})
        pipe.execute()


def _latencies(world: World, events: Sequence[Event]) -> list[float]:
    """Seconds from received_at to the note stored by the SDP stand-in, per event."""
    out = []
    for item in events:
        notes = world.sdp.notes(item.ticket.id)
        if notes:
            added_ms = int(notes[0]["added_time"]["value"])
            out.append(added_ms / 1000 - item.received_at.timestamp())
    return out


def _wait_notes(world: World, events: Sequence[Event], timeout: float) -> float:
    """Waits for a note on every event's ticket; returns when the last one came."""
    deadline = time.monotonic() + timeout
    pending = list(events)
    while pending:
        pending = [e for e in pending if not world.sdp.notes(e.ticket.id)]
        if not pending:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} of {len(events)} events got no note in time")
        time.sleep(0.05)
    return time.monotonic()


def _database(world: World) -> Database:
    return Database(
        world.urls.database_url,
        context_keys(SecretBox(parse_key(world.key))).signing,
        operator_url=world.urls.operator_database_url,
    )


def _stage_medians(world: World, events: Sequence[Event]) -> str:
    """Median (p95) milliseconds per stage, as the flow recorded them in
    enhancement_history; "queued" is from the webhook to the event's begin transaction
    (the stream read, a window slot, and the busy gate: wait_busy is the gate's part)."""
    by_tenant: dict[str, list[str]] = {}
    for item in events:
        by_tenant.setdefault(item.tenant_id, []).append(item.event_id)
    stages: dict[str, list[float]] = {}
    with _database(world) as db:
        for tenant, ids in by_tenant.items():
            with db.tenant(tenant) as conn:
                rows = conn.execute(
                    "SELECT timings, extract(epoch FROM started_at - received_at) * 1000 AS queued"
                    " FROM enhancement_history WHERE event_id = ANY(%s)",
                    (ids,),
                ).fetchall()
            for row in rows:
                stages.setdefault("queued", []).append(float(row["queued"]))
                timings = row["timings"] or {}
                for stage, ms in timings.items():
                    stages.setdefault(stage, []).append(float(ms))
    return ", ".join(
        f"{k} {statistics.median(v):.0f} ({_pct(v, 0.95):.0f})" for k, v in stages.items()
    )


def _cpu_seconds(pids: Sequence[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# The flow -----------------------------------------------------------------------------------


@contextmanager
def _flows(world: World, processes: int) -> Iterator[tuple[list[int], list[int]]]:
    """`processes` flow processes (one Bytewax cluster); yields their pids and metrics ports.

    Every earlier event has its note by now: the streams are emptied first, so a new
    cluster (which has no recovery state) does not count skipping them as its work."""
    with redis.Redis.from_url(world.urls.redis_url) as client:
        shards = world.settings.stream_shards
        client.delete(*(world.settings.stream_name(i) for i in range(shards)))
    ports = [free_port() for _ in range(processes)]
    addresses = ";".join(f"127.0.0.1:{free_port()}" for _ in range(processes))
    children = []
    for i, port in enumerate(ports):
        command = [sys.executable, "-m", "bytewax.run", "flows.enhance:build_flow()"]
        if processes > 1:
            command += ["-i", str(i), "-a", addresses]
        env = _env(world, AI_AGENTS_FLOW_METRICS_PORT=str(port))
        children.append(subprocess.Popen(command, cwd=REPO, env=env))
    try:
        for port in ports:
            _wait_http(f"http://127.0.0.1:{port}/metrics", children)
        yield [c.pid for c in children], ports
    finally:
        for child in children:
            child.kill()
            child.wait(timeout=30)


def _wait_http(url: str, children: Sequence[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(c.poll() is not None for c in children):
            raise RuntimeError("a flow process exited while starting")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def _metrics(port: int, names: Sequence[str]) -> dict[str, float]:
    """The named series' sums, from one scrape: a scrape is the flow's CPU too."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    totals = dict.fromkeys(names, 0.0)
    for line in text.splitlines():
        for name in names:
            if line.startswith(name) and not line.startswith("#"):
                totals[name] += float(line.rsplit(" ", 1)[1])
    return totals


def _metric(port: int, name: str) -> float:
    return _metrics(port, [name])[name]


class _PeakSampler:
    """Samples a gauge (summed over processes) and the first process's RSS while it runs."""

    def __init__(self, ports: Sequence[int], pid: int) -> None:
        self.peak_in_flight = 0.0
        self.least_window = float("inf")
        self.peak_rss_mb = 0.0
        self._ports, self._pid = ports, pid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        # Once a second, a few times Prometheus's usual rate: often enough to see the peak,
        # rarely enough that scraping is not a share of the flow's CPU per event.
        names = ["aiops_flow_in_flight", "aiops_flow_window"]
        while not self._stop.wait(1.0):
            try:
                scraped = [_metrics(p, names) for p in self._ports]
            except httpx.HTTPError:
                continue
            self.peak_in_flight = max(self.peak_in_flight, sum(m[names[0]] for m in scraped))
            self.least_window = min(self.least_window, sum(m[names[1]] for m in scraped))
            self.peak_rss_mb = max(self.peak_rss_mb, _rss_mb(self._pid))


@dataclass
class Run:
    events: int
    seconds: float
    cpu_ms: float
    in_flight: float
    least_window: float
    latencies: list[float]
    sent: list[Event]

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def line(self, name: str, llm_seconds: float) -> str:
        over = [x - llm_seconds for x in self.latencies]
        return (
            f"{name:<44} {self.rate:7.1f} ev/s  {self.cpu_ms:6.1f} ms CPU/ev  "
            f"in flight {self.in_flight:5.0f} (window down to {self.least_window:3.0f})  "
            f"overhead p50 {_pct(over, 0.5) * 1000:6.0f} ms "
            f"p95 {_pct(over, 0.95) * 1000:6.0f} ms"
        )


@contextmanager
def _profiled(pid: int, path: str | None) -> Iterator[None]:
    """py-spy (a dev tool: `pip install py-spy`) samples the flow while the block runs."""
    if path is None:
        yield
        return
    spy = subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "-o", path, "--format", "raw", "-r", "100",
         "--nonblocking", "--gil"]
    )  # fmt: skip
    try:
        yield
    finally:
        spy.send_signal(2)
        spy.wait(timeout=60)


def _warm_up(world: World, client: redis.Redis, tenants: Sequence[str]) -> None:
    """One event per tenant first: pools, indexes and litellm's imports are built."""
    events = [_event(world, t) for t in tenants]
    _send(world, client, events)
    _wait_notes(world, events, timeout=300)


def _measure(
    world: World,
    client: redis.Redis,
    pids: Sequence[int],
    ports: Sequence[int],
    tenants: Sequence[str],
    count: int,
) -> Run:
    events = [_event(world, tenants[n % len(tenants)]) for n in range(count)]
    cpu0 = _cpu_seconds(pids)
    started = time.monotonic()
    with _PeakSampler(ports, pids[0]) as sampler:
        _send(world, client, events)
        ended = _wait_notes(world, events, timeout=60 + count)
    cpu = _cpu_seconds(pids) - cpu0
    return Run(count, ended - started, cpu * 1000 / count, sampler.peak_in_flight,
               sampler.least_window, _latencies(world, events), events)  # fmt: skip


def _paced(
    world: World, client: redis.Redis, tenants: Sequence[str], rate: float, seconds: float
) -> tuple[list[float], list[Event]]:
    events = []
    started = time.monotonic()
    for n in range(int(rate * seconds)):
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        item = _event(world, tenants[n % len(tenants)])
        _send(world, client, [item])
        events.append(item)
    _wait_notes(world, events, timeout=120)
    return _latencies(world, events), events


def _flood(
    world: World, client: redis.Redis, flood: int, same_shard: bool
) -> tuple[list[float], list[Event]]:
    """A quiet tenant sends one event every 0.5 s while another has `flood` queued."""
    shards = world.settings.stream_shards
    loud = "bench-flood"
    quiet = next(
        f"bench-quiet-{n}"
        for n in itertools.count()
        if (shard_for(f"bench-quiet-{n}", shards) == shard_for(loud, shards)) == same_shard
    )
    backlog = [_event(world, loud) for _ in range(flood)]
    _send(world, client, backlog)
    quiet_events = []
    for _ in range(20):
        item = _event(world, quiet)
        _send(world, client, [item])
        quiet_events.append(item)
        time.sleep(0.5)
    _wait_notes(world, quiet_events, timeout=120)
    _wait_notes(world, backlog, timeout=60 + flood)  # the next run starts with empty streams
    return _latencies(world, quiet_events), quiet_events


# The original design ------------------------------------------------------------------------


def baseline_worker(group: str, consumer: str) -> None:
    """One event at a time from a consumer group over every shard stream, forever."""
    from flows.decode import decode_entry
    from flows.items import Entry, Received
    from flows.process import process_event
    from flows.runtime import FlowRuntime

    settings = Settings()
    runtime = FlowRuntime(settings)
    services = runtime._start().services  # the flow's own per-event services
    assert settings.redis_url is not None
    client = redis.Redis.from_url(settings.redis_url)
    streams: dict[Any, Any] = {settings.stream_name(i): ">" for i in range(settings.stream_shards)}
    while True:
        reply: Any = client.xreadgroup(group, consumer, streams, count=1, block=100)
        for stream, entries in reply or []:
            for entry_id, fields in entries:
                received = decode_entry(Entry(stream.decode(), entry_id.decode(), fields))
                if isinstance(received, Received):
                    process_event(received, services)
                client.xack(stream, group, entry_id)


@contextmanager
def _baseline(world: World, client: redis.Redis) -> Iterator[list[int]]:
    group = f"baseline-{time.monotonic_ns()}"
    for i in range(world.settings.stream_shards):
        client.xgroup_create(world.settings.stream_name(i), group, id="$", mkstream=True)
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.bench.bench_flow", "--baseline-worker", group, str(i)],
            cwd=REPO,
            env=_env(world),
        )
        for i in range(4)
    ]
    try:
        yield [c.pid for c in children]
    finally:
        for child in children:
            child.kill()
            child.wait(timeout=30)


# Main ---------------------------------------------------------------------------------------


def _world(urls: ServiceUrls, key: str, state: Path, llm: OpenAiServer, sdp: SdpServer) -> World:
    settings = Settings(
        state_dir=state,
        database_url=urls.database_url,
        redis_url=urls.redis_url,
        encryption_key=SecretStr(key),
    )
    issues = [(i.summary, i.description or i.summary) for i in load_issues().values()]
    return World(urls, key, state, llm, sdp, settings, issues)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=600, help="events per throughput run")
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--llm-seconds", type=float, default=1.0)
    parser.add_argument("--flood", type=int, default=2000, help="backlog of the flooding tenant")
    parser.add_argument("--paced-seconds", type=float, default=20.0)
    parser.add_argument(
        "--memory-events", type=int, default=0, help="events queued with a 30 s LLM (0: skip)"
    )
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--only",
        metavar="LIST",
        help=f"comma-separated sections to run, of {','.join(SECTIONS)} (default: all)",
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="py-spy profile of the many-tenant run (collapsed)"
    )
    parser.add_argument("--baseline-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline_worker:
        baseline_worker(*args.baseline_worker)
        return

    key = generate_key()
    with (
        tempfile.TemporaryDirectory(prefix="aiops-bf-", dir="/tmp") as tmp,
        OpenAiServer(LLM_KEY) as llm,
        SdpServer(flavor="onprem", api_key=SDP_KEY) as sdp,
    ):
        state = Path(tmp)
        with services(Settings(state_dir=state)) as urls:
            migrate.upgrade(urls.migration_database_url)
            migrate.allow_app_login(urls.migration_database_url)
            tenant_context.install(
                urls.migration_database_url, context_keys(SecretBox(parse_key(key)))
            )
            world = _world(urls, key, state, llm, sdp)
            _bench(world, args)


SECTIONS = ("many", "alone", "paced", "flood", "memory", "scale", "baseline")


def _bench(world: World, args: argparse.Namespace) -> None:
    llm_s = args.llm_seconds
    only = set(args.only.split(",")) if args.only else set(SECTIONS)
    if args.skip_baseline:
        only.discard("baseline")
    if not args.memory_events:
        only.discard("memory")
    tenants = [f"bench-{n:02d}" for n in range(args.tenants)]
    quiet = [f"bench-quiet-{n}" for n in range(12)]
    box = SecretBox(parse_key(world.key))
    with _database(world) as db:
        _add_tenants(world, db, box, [*tenants, "bench-flood", *quiet])
    client = redis.Redis.from_url(world.urls.redis_url)
    world.llm.delay_seconds = llm_s
    print(f"LLM stand-in answers in {llm_s:g} s; {args.events} events per run; shared machine")

    if only & {"many", "alone", "paced", "flood", "memory"}:
        with _flows(world, 1) as (pids, ports):
            _warm_up(world, client, [*tenants, "bench-flood", *quiet])
            with _profiled(pids[0], args.profile):
                many = _measure(world, client, pids, ports, tenants, args.events)
            print(many.line(f"flow, {len(tenants)} tenants", llm_s))
            print("  targets at LLM 1 s: >= 100 ev/s, <= 8 ms CPU per event")
            print(f"  ms per stage, median (p95): {_stage_medians(world, many.sent)}")
            if args.profile:
                return  # a profile run measures that alone
            if "alone" in only:
                alone = _measure(world, client, pids, ports, tenants[:1], args.events)
                print(alone.line("flow, one tenant", llm_s))
                print(
                    f"  one tenant / many tenants throughput: {alone.rate / many.rate:.2f} "
                    "(target >= 0.8)"
                )
            if "paced" in only:
                half, paced = _paced(world, client, tenants, many.rate / 2, args.paced_seconds)
                over = [x - llm_s for x in half]
                print(
                    f"flow, paced at {many.rate / 2:.0f} ev/s (half of capacity): overhead "
                    f"p50 {_pct(over, 0.5) * 1000:.0f} ms, p95 {_pct(over, 0.95) * 1000:.0f} ms "
                    "(target p95 200 ms)"
                )
                print(f"  ms per stage, median (p95): {_stage_medians(world, paced)}")
            if "flood" in only:
                for same in (True, False):
                    quiet_s, quiet_events = _flood(world, client, args.flood, same)
                    where = "same shard" if same else "other shard"
                    print(
                        f"flow, quiet tenant while another floods {args.flood} ({where}): "
                        f"p50 {_pct(quiet_s, 0.5):.2f} s, p95 {_pct(quiet_s, 0.95):.2f} s, "
                        f"first {quiet_s[0]:.2f} s (target p95 {2 * llm_s + 1:.1f} s)"
                    )
                    print(f"  quiet tenant's ms per stage: {_stage_medians(world, quiet_events)}")
            if "memory" in only:
                _memory(world, client, pids, args.memory_events, tenants)
                world.llm.delay_seconds = llm_s

    if "scale" in only:
        world.llm.delay_seconds = 0.01
        for processes in (1, 2):
            with _flows(world, processes) as (pids, ports):
                _warm_up(world, client, tenants)
                before = [_metric(p, "aiops_flow_events_total") for p in ports]
                run = _measure(world, client, pids, ports, tenants, args.events)
                split = [
                    _metric(p, "aiops_flow_events_total") - b
                    for p, b in zip(ports, before, strict=True)
                ]
                print(run.line(f"flow, {processes} process(es), LLM 0.01 s", 0.01))
                print(f"  events per process: {[int(s) for s in split]}")
        world.llm.delay_seconds = llm_s

    if "baseline" in only:
        with _baseline(world, client) as pids:
            _warm_up(world, client, tenants)
            count = max(40, args.events // 10)
            run = _measure(world, client, pids, [], tenants, count)
            print(run.line(f"original design: 4 workers x 1 event ({count} ev)", llm_s))
    client.close()


def _memory(
    world: World, client: redis.Redis, pids: Sequence[int], count: int, tenants: Sequence[str]
) -> None:
    world.llm.delay_seconds = 30.0
    rss0 = _rss_mb(pids[0])
    events = [_event(world, tenants[n % len(tenants)]) for n in range(count)]
    _send(world, client, events)
    peak = rss0
    for _ in range(40):
        time.sleep(1)
        peak = max(peak, _rss_mb(pids[0]))
    print(f"flow, LLM at 30 s with {count} queued: RSS {rss0:.0f} MB before, peak {peak:.0f} MB")
    world.llm.delay_seconds = 0.01
    _wait_notes(world, events, timeout=600)


if __name__ == "__main__":
    main()
