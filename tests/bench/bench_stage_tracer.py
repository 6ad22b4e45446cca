"""What the sandbox's stage tracer costs production: the calls process_event makes to its
tracer, which in production is `flows.process.untraced` (a function that does nothing).

    .venv/bin/python -m tests.bench.bench_stage_tracer [events]

Prints process CPU per event of the trace calls one successful event makes, against a
baseline in the same run: the same loop with no call at all. The flow spends tens of
milliseconds of CPU per event (README, "Performance"), so microseconds here are noise.
"""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace

from flows.process import untraced

_FACT = object()


def _traced(events: int) -> float:
    services = SimpleNamespace(trace=untraced)
    started = time.process_time()
    for _ in range(events):
        # As process_event calls it for one event that gets a note (mask ... note).
        services.trace("mask", event=_FACT)
        services.trace("agent", choice=_FACT)
        services.trace("begin", prior=_FACT)
        services.trace("noise", noise=_FACT)
        services.trace("gather", context=_FACT)
        services.trace("triage", triage=_FACT)
        services.trace("synthesize", synthesis=_FACT, attempts=_FACT)
        services.trace("note", text=_FACT, posts=_FACT)
    return time.process_time() - started


def _baseline(events: int) -> float:
    started = time.process_time()
    for _ in range(events):
        pass
    return time.process_time() - started


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    base, traced = _baseline(events), _traced(events)
    print(f"events: {events:,}")
    rows = (
        ("baseline (no call)", base),
        ("8 untraced calls (production)", traced),
        ("tracer cost", traced - base),
    )
    for label, seconds in rows:
        print(f"{label:<31} {seconds / events * 1e6:8.3f} us CPU per event")


if __name__ == "__main__":
    main()
