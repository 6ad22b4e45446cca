"""Instructions per webhook: the ingest app and the raw ASGI hello app, driven in process
under callgrind, a figure that a busy machine does not move.

    .venv/bin/python -m tests.bench.bench_ingest_instructions [--webhooks 1000]

Needs valgrind (Debian: apt-get install -y valgrind). CPU time on a shared machine
swings by 20 % or more between identical runs, which hides a change of a few per cent;
ingest's instruction count repeats within 0.2 % (621,384 and 622,738 in two runs).
Each app is driven as uvicorn would call it (one ASGI call per request, 64 in flight on
uvloop), without HTTP: the server's own work per request is the same for both and is
left out, so the figures are of the apps alone, to follow a change of the webhook path;
the issue's req/s ratio under uvicorn is bench_ingest's.

Each app runs twice under `valgrind --tool=callgrind`, measuring N and then 2N requests
after the same start-up, warm-up and request generation (2N signed webhooks, each with its
own delivery id, built before either measurement); the difference over N is what one
request costs. Ingest runs against an embedded Redis (AOF, fsync on every write), the
tenant cached after the warm-up, the collector settings of the production entry point;
every answer must be 202 (hello: 200) and every accepted webhook an entry of the stream.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop

from aiops.collector import quiet_collector
from aiops.settings import Settings
from itsm.servicedesk import DELIVERY_HEADER, SIGNATURE_HEADER
from tests.bench.bench_ingest import TENANT, bench_redis, publish_tenant
from tests.ingest import sdp

IN_FLIGHT = 64
WARM_UP = 500
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def _requests(count: int) -> list[tuple[bytes, list[tuple[bytes, bytes]]]]:
    """`count` signed webhooks as uvicorn would hand them over: body and raw headers."""
    made = []
    for n in range(count):
        body = sdp.body(str(n))
        headers = [
            (b"host", b"127.0.0.1:8000"),
            (b"user-agent", b"wrk"),
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
            (SIGNATURE_HEADER.encode(), sdp.headers(body)[SIGNATURE_HEADER].encode()),
            (DELIVERY_HEADER.encode(), f"bench-{n}".encode()),
        ]
        made.append((body, headers))
    return made


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhook/servicedesk",
        "raw_path": b"/webhook/servicedesk",
        "root_path": "",
        "query_string": f"tenant={TENANT}".encode(),
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _drive(app: App, requests: list[tuple[bytes, list[tuple[bytes, bytes]]]]) -> list[int]:
    """Every request through `app`, IN_FLIGHT at a time; the statuses answered."""
    statuses: list[int] = []
    pending = iter(requests)

    async def one_connection() -> None:
        for body, headers in pending:
            message = {"type": "http.request", "body": body, "more_body": False}

            async def receive(message: dict[str, Any] = message) -> dict[str, Any]:
                return message

            async def send(answer: dict[str, Any]) -> None:
                if answer["type"] == "http.response.start":
                    statuses.append(answer["status"])

            await app(_scope(headers), receive, send)

    await asyncio.gather(*(one_connection() for _ in range(IN_FLIGHT)))
    return statuses


def _child(which: str, measured: int, total: int) -> None:
    """Under valgrind: start-up, warm-up, then `measured` of `total` generated requests."""
    requests = _requests(WARM_UP + total)
    warm_up, rest = requests[:WARM_UP], requests[WARM_UP : WARM_UP + measured]
    if which == "hello":
        from tests.bench.hello import app as hello

        quiet_collector()
        uvloop.run(_drive(hello, warm_up))
        statuses = uvloop.run(_drive(hello, rest))
        expected = 200
    else:
        from ingest.app import create_app

        ingest = create_app(Settings())
        quiet_collector()

        async def run() -> list[int]:
            async with ingest.router.lifespan_context(ingest):
                await _drive(ingest, warm_up)
                return await _drive(ingest, rest)

        statuses = uvloop.run(run())
        expected = 202
    wrong = [s for s in statuses if s != expected]
    if len(statuses) != measured or wrong:
        sys.exit(f"{which}: {len(statuses)} answers of {measured}, {len(wrong)} not {expected}")


def _instructions(which: str, measured: int, total: int, env: dict[str, str], out: Path) -> int:
    # The count is read from valgrind's summary; the profile goes to `out` (the run's state
    # folder) rather than callgrind.out.PID in the working tree.
    command = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
        sys.executable, "-m", "tests.bench.bench_ingest_instructions",
        "--child", which, "--measured", str(measured), "--webhooks", str(total),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{which} under valgrind failed:\n{done.stderr[-2000:]}")
    found = _REFS.search(done.stderr)
    if found is None:
        raise RuntimeError(f"valgrind printed no instruction count:\n{done.stderr[-2000:]}")
    return int(found[1].replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--webhooks", type=int, default=1000, help="N: requests measured (each app runs N, 2N)"
    )
    parser.add_argument("--child", choices=["hello", "ingest"], help=argparse.SUPPRESS)
    parser.add_argument("--measured", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        _child(args.child, args.measured, args.webhooks)
        return
    if shutil.which("valgrind") is None:
        sys.exit(
            "this benchmark needs valgrind, which is not installed.\n"
            "Install it (Debian/Ubuntu): apt-get update && apt-get install -y valgrind"
        )
    n = args.webhooks
    with bench_redis() as bench:
        print(
            f"callgrind, {n:,} and {2 * n:,} requests per app after {WARM_UP} warm-up, "
            f"{IN_FLIGHT} in flight (takes a few minutes)",
            flush=True,
        )
        per_request = {}
        for which in ("hello", "ingest"):
            counts = []
            for measured in (n, 2 * n):
                # Every run the same delivery ids, each new to Redis: none is a duplicate.
                bench.direct.flushdb()
                publish_tenant(bench.direct, bench.settings, bench.key)
                out = bench.state / f"callgrind.{which}.{measured}"
                counts.append(_instructions(which, measured, 2 * n, bench.env, out))
                stored = int(bench.direct.xlen(bench.stream))
                if which == "ingest" and stored != WARM_UP + measured:
                    sys.exit(f"ingest: {stored} stream entries, not {WARM_UP + measured}")
            per_request[which] = (counts[1] - counts[0]) / n
            print(
                f"{which:<7} {per_request[which]:>10,.0f} instructions per request "
                f"({counts[0]:,} for {n:,}, {counts[1]:,} for {2 * n:,})",
                flush=True,
            )
        print(
            f"ingest's own work: {per_request['ingest'] - per_request['hello']:,.0f} "
            "instructions per webhook over hello's (uvicorn's share, the same for both, "
            "is in neither)"
        )


if __name__ == "__main__":
    main()
