"""The enhancement dataflow.

    python -m bytewax.run "flows.enhance:build_flow()" -r RECOVERY_DIR -s SNAPSHOT_S -b BACKUP_S

Shard streams, read fairly (decoded, repeated event ids dropped, each event handed on when
its tenant gets a slot of the process's window) -> bad entries to the dead letters;
resolved tickets into the ticket history; other events enhanced each on its own (gather,
synthesize, write back, record), failures dead-lettered as they end.
"""

from __future__ import annotations

from typing import TypeGuard, cast

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source

from aiops.collector import quiet_collector
from aiops.logs import configure_logging
from aiops.settings import Settings
from aiops.tracing import configure_tracing
from flows.items import DeadLetter, Received
from flows.runtime import FlowRuntime
from flows.sinks import DeadLetterSink
from flows.source import RedisStreamSource


def _is_received(item: Received | DeadLetter) -> TypeGuard[Received]:
    return isinstance(item, Received)


def _is_resolved(item: Received) -> bool:
    # A resolved ticket the flow must first read from the ITSM (Event.fetch) goes the
    # enhance way, whose pool does I/O without holding up this worker.
    return item.event.kind == "resolved" and not item.event.fetch


def build_flow(
    settings: Settings | None = None,
    *,
    source: Source[Received | DeadLetter] | None = None,
    runtime: FlowRuntime | None = None,
) -> Dataflow:
    """The flow; `source` and `runtime` default to the Redis shards and a fresh runtime."""
    if settings is None:
        # Started by `python -m bytewax.run`: this is the process's entry point.
        settings = Settings()
        configure_logging("flow", settings.log_level, settings.log_format)
        configure_tracing(settings, "flow")
        quiet_collector()
    runtime = runtime or FlowRuntime(settings)
    # From the start, not the first event: an idle flow still answers "what is it doing".
    runtime.serve_metrics()

    # No step below is keyed, so nothing moves between workers: an entry is finished in
    # the process that read it, where its partition hears of it.
    flow = Dataflow("enhance")
    items = op.input(
        "read_streams",
        flow,
        source or RedisStreamSource(settings, runtime.window, runtime.acks, watch=runtime.metrics),
    )
    # Received | DeadLetter
    split = op.branch("split_undecodable", items, _is_received)
    # trues: Received; falses: DeadLetter
    # `branch` narrows only its true side by the TypeGuard; the false side is what is left.
    undecodable = op.inspect(
        "count_undecodable", cast(Stream[DeadLetter], split.falses), runtime.undecodable
    )
    # DeadLetter
    kinds = op.branch("split_resolved", split.trues, _is_resolved)
    # trues: Received (kind "resolved"); falses: Received (created, updated)
    history_failures = op.flat_map_batch("store_resolved", kinds.trues, runtime.store_resolved)
    # DeadLetter (only the resolved tickets that could not be stored)
    op.flat_map_batch("enhance", kinds.falses, runtime.enhance)
    # nothing: each event is started and ends on its own; its dead letter, if any, is
    # written as it ends
    dead_letters = op.merge("dead_letters", undecodable, history_failures)
    # DeadLetter
    op.output("write_dead_letters", dead_letters, DeadLetterSink(settings, runtime.acks.finished))
    return flow
