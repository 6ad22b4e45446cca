"""The enhancement dataflow.

    python -m bytewax.run "flows.enhance:build_flow()" -r RECOVERY_DIR -s SNAPSHOT_S -b BACKUP_S

Shard streams -> decode (bad entries to the dead letters) -> resolved tickets into the
ticket history; other events keyed by tenant, repeated event ids dropped, then enhanced
many at a time (gather, synthesize, write back, record). Failures go to the dead letters.
"""

from __future__ import annotations

from functools import partial
from typing import TypeGuard, cast

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source

from aiops.logs import configure_logging
from aiops.settings import Settings
from aiops.tracing import configure_tracing
from flows.dedupe import drop_seen
from flows.items import DeadLetter, Entry, Received
from flows.runtime import FlowRuntime
from flows.sinks import DeadLetterSink
from flows.source import RedisStreamSource


def _is_received(item: Received | DeadLetter) -> TypeGuard[Received]:
    return isinstance(item, Received)


def _is_resolved(item: Received) -> bool:
    return item.event.kind == "resolved"


def _tenant(item: Received) -> str:
    return item.event.tenant_id


def build_flow(
    settings: Settings | None = None,
    *,
    source: Source[Entry] | None = None,
    runtime: FlowRuntime | None = None,
) -> Dataflow:
    """The flow; `source` and `runtime` default to the Redis shards and a fresh runtime."""
    if settings is None:
        # Started by `python -m bytewax.run`: this is the process's entry point.
        configure_logging("flow")
        settings = Settings()
        configure_tracing(settings, "flow")
    runtime = runtime or FlowRuntime(settings)
    # From the start, not the first event: an idle flow still answers "what is it doing".
    runtime.serve_metrics()
    window_ms = int(settings.flow_dedupe_seconds * 1000)

    flow = Dataflow("enhance")
    entries = op.input(
        "read_streams", flow, source or RedisStreamSource(settings, watch=runtime.metrics)
    )
    # Entry(stream, entry_id, fields)
    decoded = op.map("decode", entries, runtime.decode)
    # Received | DeadLetter
    split = op.branch("split_undecodable", decoded, _is_received)
    # trues: Received; falses: DeadLetter
    kinds = op.branch("split_resolved", split.trues, _is_resolved)
    # trues: Received (kind "resolved"); falses: Received (created, updated)
    history_failures = op.flat_map_batch("store_resolved", kinds.trues, runtime.store_resolved)
    # DeadLetter (only the resolved tickets that could not be stored)
    keyed = op.key_on("key_by_tenant", kinds.falses, _tenant)
    # (tenant_id, Received)
    fresh = op.stateful_flat_map("drop_repeated_events", keyed, partial(drop_seen, window_ms))
    # (tenant_id, Received), each event id once per window
    outcomes = op.flat_map_batch("enhance", fresh, runtime.enhance_batch)
    # Outcome
    failures = op.filter_map("failed_to_dead_letters", outcomes, runtime.dead_letter_for)
    # DeadLetter
    # `branch` narrows only its true side by the TypeGuard; the false side is what is left.
    undecodable = cast(Stream[DeadLetter], split.falses)
    dead_letters = op.merge("dead_letters", undecodable, history_failures, failures)
    # DeadLetter
    op.output("write_dead_letters", dead_letters, DeadLetterSink(settings))
    return flow
