"""Our own partitioned Redis Streams source: one partition per shard, fair and read-ahead.

A shard has a live stream and a backfill stream; the partition reads the backfill one only
when the live one has nothing new, so re-enhancement never delays new tickets. The
partition decodes what it reads, drops event ids seen recently, and queues each event
under its tenant; it hands an event on only when the process's `FairWindow` gives that
tenant a slot. So the flow's in-flight window stays full while work waits, and a quiet
tenant's ticket is read, and started, past a flooding tenant's backlog on the same shard.

Memory stays bounded: the partition reads at most `flow_read_ahead` entries beyond its
low-water mark, keeps at most `flow_tenant_queue` decoded events per tenant, and of the
rest only the entry id, which it reads again (XRANGE) when the event's turn comes.

Resume state, per stream: the low-water mark and the entries finished above it
(flows.ledger), plus the duplicate filter of each tenant. An entry counts as finished only
when its work is done (note posted and recorded, ticket stored, dead letter written): the
runtime calls `Acks.finished`. What was queued or in flight at a snapshot is read again
and run again after a crash, once; what had finished is skipped. `next_batch` never
blocks: XRANGE without BLOCK; an idle read or a Redis error sets `next_awake` ahead.

Every few seconds a partition counts the entries after its low-water mark in each of its
streams (queue_depth, the autoscaling signal: what is not finished yet, read ahead or
not): counted inside Redis by a script, so no entry crosses the network, and capped, so
a huge backlog cannot stall Redis.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import redis
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from aiops.settings import Settings
from flows.decode import decode_entry
from flows.dedupe import RecentIds, is_fresh
from flows.items import DeadLetter, Entry, Received
from flows.ledger import Ledger, Mark
from flows.window import FairWindow

log = logging.getLogger(__name__)

IDLE_WAIT = timedelta(milliseconds=40)
# While events wait for a slot: how soon to look again for one that has freed up.
WAITING_WAIT = timedelta(milliseconds=4)
MAX_ERROR_WAIT = timedelta(seconds=5)

Item = Received | DeadLetter


@dataclass
class ShardState:
    """Snapshot of one partition."""

    marks: dict[str, Mark] = field(default_factory=dict)
    recent: dict[str, RecentIds] = field(default_factory=dict)


DEPTH_EVERY_SECONDS = 5.0
# Past this many waiting entries a stream reports the cap: far beyond any scaling
# threshold, and counting further would hold Redis up for every other client.
DEPTH_CAP = 10_000
_COUNT_AFTER = """
local n, cursor, cap = 0, ARGV[1], tonumber(ARGV[2])
while n < cap do
  local batch = redis.call('XRANGE', KEYS[1], '(' .. cursor, '+', 'COUNT', math.min(1000, cap - n))
  if #batch == 0 then break end
  n = n + #batch
  cursor = batch[#batch][1]
end
return n
"""


class SourceWatch(Protocol):
    """Where a partition reports that its worker is alive and how much is waiting."""

    def source_heartbeat(self) -> None: ...

    def queue_depth(self, stream: str, waiting: int) -> None: ...


class _Unwatched:
    def source_heartbeat(self) -> None:
        pass

    def queue_depth(self, stream: str, waiting: int) -> None:
        pass


def _now() -> datetime:
    return datetime.now(UTC)


class Acks:
    """Where the runtime reports finished entries; each partition listens to its streams.

    Thread-safe: events finish on the runtime's worker threads."""

    def __init__(self) -> None:
        self._listeners: dict[str, Callable[[str, str], None]] = {}
        self._lock = threading.Lock()

    def listen(self, streams: Sequence[str], listener: Callable[[str, str], None]) -> None:
        with self._lock:
            for stream in streams:
                self._listeners[stream] = listener

    def forget(self, streams: Sequence[str]) -> None:
        with self._lock:
            for stream in streams:
                self._listeners.pop(stream, None)

    def finished(self, stream: str, entry_id: str) -> None:
        """`entry_id` of `stream` is done; entries of no partition (a test source's) are
        ignored."""
        listener = self._listeners.get(stream)
        if listener is not None:
            listener(stream, entry_id)


_Deferred = tuple[str, str]  # (stream, entry id) of an event whose body was not kept


class _ShardPartition(StatefulSourcePartition[Item, ShardState]):
    def __init__(
        self,
        client: redis.Redis,
        streams: Sequence[str],
        state: ShardState,
        window: FairWindow,
        acks: Acks,
        *,
        batch_size: int,
        read_ahead: int,
        tenant_queue: int,
        dedupe_ms: int,
        stop_when_drained: bool = False,
        now: Callable[[], datetime] = _now,
        watch: SourceWatch | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._streams = list(streams)  # in priority order
        self._ledgers = {s: Ledger(state.marks.get(s)) for s in streams}
        self._recent = state.recent
        self._window = window
        self._acks = acks
        self._batch_size = batch_size
        self._read_ahead = read_ahead
        self._tenant_queue = tenant_queue
        self._dedupe_ms = dedupe_ms
        self._stop_when_drained = stop_when_drained
        self._now = now
        self._queues: dict[str, deque[Received | _Deferred]] = {}
        self._kept: dict[str, int] = {}  # decoded events queued, per tenant
        self._granted: dict[tuple[str, str], str] = {}  # (stream, id) -> tenant, in flight
        self._finished: deque[tuple[str, str]] = deque()  # appended from other threads
        self._awake: datetime | None = None
        self._read_after: datetime | None = None
        self._errors = 0
        self._idle = False
        self._watch = watch or _Unwatched()
        self._monotonic = monotonic
        self._depth_due = 0.0
        self._count_after = client.register_script(_COUNT_AFTER)
        acks.listen(self._streams, self._on_finished)

    # Bytewax ------------------------------------------------------------------------------

    def next_batch(self) -> list[Item]:
        self._watch.source_heartbeat()
        self._settle()
        try:
            self._report_depth()
            out = self._read()
            out += self._hand_on()
        except redis.RedisError as exc:
            self._errors += 1
            self._read_after = None  # the back-off below decides when to try again
            wait = min(MAX_ERROR_WAIT, IDLE_WAIT * 2 ** min(self._errors, 7))
            log.warning(
                "reading %s failed (%s: %s); trying again in %.1fs",
                self._streams[0],
                type(exc).__name__,
                exc,
                wait.total_seconds(),
            )
            self._awake = self._now() + wait
            return []
        self._errors = 0
        if out or not self._idle:
            self._awake = None
        elif self._queues:
            self._awake = self._now() + WAITING_WAIT
        else:
            if self._stop_when_drained and self._drained():
                raise StopIteration
            self._awake = self._now() + IDLE_WAIT
        return out

    def _report_depth(self) -> None:
        """Entries after this partition's low-water mark, per stream, every few seconds."""
        if self._monotonic() < self._depth_due:
            return
        self._depth_due = self._monotonic() + DEPTH_EVERY_SECONDS
        for stream in self._streams:
            low = self._ledgers[stream].low
            waiting = self._count_after(keys=[stream], args=[low, DEPTH_CAP])
            self._watch.queue_depth(stream, int(waiting))

    def next_awake(self) -> datetime | None:
        return self._awake

    def snapshot(self) -> ShardState:
        self._settle()
        marks = {stream: ledger.mark() for stream, ledger in self._ledgers.items()}
        return ShardState(marks, dict(self._recent))

    def close(self) -> None:
        self._acks.forget(self._streams)
        for tenant, queue in self._queues.items():
            self._window.withdraw(tenant, len(queue))
        self._queues.clear()
        self._client.close()

    # Reading ------------------------------------------------------------------------------

    def _read(self) -> list[Item]:
        """New entries of the first stream that has some, while read-ahead allows."""
        out: list[Item] = []
        self._idle = True
        now = self._now()
        if self._read_after is not None and now < self._read_after:
            return out
        self._read_after = now + IDLE_WAIT
        for stream in self._streams:
            ledger = self._ledgers[stream]
            if len(ledger) >= self._read_ahead:
                return out
            if stream != self._streams[0] and self._queues:
                return out  # backfill waits until no live event does
            count = min(self._batch_size, self._read_ahead - len(ledger))
            reply: Any = self._client.xrange(stream, f"({ledger.cursor}", "+", count=count)
            if not reply:
                continue
            self._idle = len(reply) < count
            if not self._idle:
                self._read_after = None
            for raw_id, fields in reply:
                entry_id = raw_id.decode()
                if ledger.read(entry_id):
                    self._admit(decode_entry(Entry(stream, entry_id, fields)), out)
            return out
        return out

    def _admit(self, item: Item, out: list[Item]) -> None:
        if isinstance(item, DeadLetter) or item.event.kind == "resolved":
            out.append(item)  # stored or dead-lettered at once; finished by those steps
            return
        event = item.event
        recent = self._recent.get(event.tenant_id)
        if recent is None:
            recent = self._recent[event.tenant_id] = RecentIds(self._dedupe_ms)
        if not is_fresh(recent, item):
            self._ledgers[item.stream].finish(item.entry_id)
            return
        tenant = event.tenant_id
        queue = self._queues.setdefault(tenant, deque())
        kept = self._kept.get(tenant, 0)
        if kept < self._tenant_queue:
            queue.append(item)
            self._kept[tenant] = kept + 1
        else:
            queue.append((item.stream, item.entry_id))
        self._window.wait(tenant)

    # Handing on ---------------------------------------------------------------------------

    def _hand_on(self) -> list[Item]:
        """Queued events whose tenants get a slot, tenant by tenant in turn."""
        started: list[Received] = []
        deferred: list[_Deferred] = []
        progress = True
        while progress and self._queues:
            progress = False
            for tenant in list(self._queues):
                if not self._window.try_start(tenant):
                    continue
                progress = True
                queue = self._queues[tenant]
                item = queue.popleft()
                if not queue:
                    del self._queues[tenant]
                if isinstance(item, Received):
                    self._kept[tenant] -= 1
                    self._granted[(item.stream, item.entry_id)] = tenant
                    started.append(item)
                else:
                    self._granted[item] = tenant
                    deferred.append(item)
        out: list[Item] = list(started)
        if deferred:
            out += self._reread(deferred)
        return out

    def _reread(self, deferred: list[_Deferred]) -> list[Item]:
        with self._client.pipeline(transaction=False) as pipe:
            for stream, entry_id in deferred:
                pipe.xrange(stream, entry_id, entry_id, count=1)
            replies: list[Any] = pipe.execute()
        out: list[Item] = []
        for (stream, entry_id), reply in zip(deferred, replies, strict=True):
            if not reply:
                log.warning("%s %s was trimmed from its stream before its turn", stream, entry_id)
                self._on_finished(stream, entry_id)
                continue
            out.append(decode_entry(Entry(stream, entry_id, reply[0][1])))
        return out

    # Finishing ----------------------------------------------------------------------------

    def _on_finished(self, stream: str, entry_id: str) -> None:
        """From any thread: the slot frees at once, the ledger learns on the next call."""
        tenant = self._granted.pop((stream, entry_id), None)
        if tenant is not None:
            self._window.finish(tenant)
        self._finished.append((stream, entry_id))

    def _settle(self) -> None:
        finished = self._finished
        while finished:
            stream, entry_id = finished.popleft()
            self._ledgers[stream].finish(entry_id)

    def _drained(self) -> bool:
        return not self._granted and all(ledger.open == 0 for ledger in self._ledgers.values())


def _upgraded(state: ShardState | dict[str, str] | None) -> ShardState:
    """Older snapshots hold the last entry id read per stream: everything up to it was
    handed on and is in that snapshot's downstream state, so it counts as finished."""
    if state is None:
        return ShardState()
    if isinstance(state, dict):
        return ShardState({stream: Mark(low) for stream, low in state.items()})
    return state


class RedisStreamSource(FixedPartitionedSource[Item, ShardState]):
    """Items: Received (in fair order, repeats dropped) or DeadLetter (undecodable).
    Partitions: the live shard streams. Resume state: ShardState.

    `stop_when_drained` ends the flow once every stream is read and every event finished
    (a one-off run over what is queued, as the in-process tests do)."""

    def __init__(
        self,
        settings: Settings,
        window: FairWindow,
        acks: Acks,
        *,
        stop_when_drained: bool = False,
        watch: SourceWatch | None = None,
    ) -> None:
        if not settings.redis_url:
            raise ValueError("the flow needs AI_AGENTS_REDIS_URL")
        self._redis_url = settings.redis_url
        self._streams = {
            settings.stream_name(i): (settings.stream_name(i), settings.backfill_stream_name(i))
            for i in range(settings.stream_shards)
        }
        self._batch_size = settings.flow_batch_size
        self._read_ahead = settings.flow_read_ahead
        self._tenant_queue = settings.flow_tenant_queue
        self._dedupe_ms = int(settings.flow_dedupe_seconds * 1000)
        self._timeout = settings.redis_timeout_seconds
        self._window = window
        self._acks = acks
        self._stop_when_drained = stop_when_drained
        self._watch = watch

    def list_parts(self) -> list[str]:
        return list(self._streams)

    def build_part(
        self, step_id: str, for_part: str, resume_state: ShardState | None
    ) -> _ShardPartition:
        client = redis.Redis.from_url(
            self._redis_url,
            socket_timeout=self._timeout,
            socket_connect_timeout=self._timeout,
        )
        return _ShardPartition(
            client,
            self._streams[for_part],
            _upgraded(resume_state),
            self._window,
            self._acks,
            batch_size=self._batch_size,
            read_ahead=self._read_ahead,
            tenant_queue=self._tenant_queue,
            dedupe_ms=self._dedupe_ms,
            stop_when_drained=self._stop_when_drained,
            watch=self._watch,
        )
