"""One search index per tenant, brought up to date when the tenant's data changes.

The version query is cheap (count and newest update); building is not, so a tenant's
index is rebuilt only when its version moved, and the version itself is checked at most
once per `ttl_seconds`. Concurrent events of one tenant wait for one build, not many.

Similar tickets start from the ticket-history index the Dagster asset keeps under the
warehouse folder (tokens, embeddings and a BM25 model per tenant): the flow loads it
and applies only the rows changed since its watermark, then keeps applying changes to its
own copy (warehouse.analytics.ticket_index does the applying for both); flows.hybrid
searches it. With no readable index
there, the first build reads every row — the same code, from an empty index — and a log
line and the flow's metrics say so. KB articles are few: they are read whole.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import polars as pl

from aiops.events import Ticket
from flows import embedding
from flows.hybrid import HybridIndex
from flows.retrieval import Bm25Index, tokenize
from warehouse import tickets
from warehouse.analytics import ticket_index
from warehouse.db import Database, TenantConnection

log = logging.getLogger(__name__)

D = TypeVar("D")

# IndexBuild.origin: how a tenant's similar-ticket index came to be.
ARTIFACT = "artifact"  # the persisted index, current as it was
ARTIFACT_DELTA = "artifact+delta"  # the persisted index and the rows changed since
DELTA = "delta"  # the flow's own copy and the rows changed since
FULL_NO_ARTIFACT = "full: no artifact"
FULL_UNREADABLE = "full: unreadable artifact"


class Searchable(Protocol[D]):
    def scores(self, query: str, k: int, exclude: str | None = None) -> list[tuple[str, float]]:
        """Up to `k` (document id, score) pairs, best first, leaving out document `exclude`;
        no document is read."""
        ...

    def read(self, doc_ids: Sequence[str]) -> Mapping[str, D]:
        """The documents of `doc_ids` that still exist."""
        ...

    def search(self, query: str, k: int, exclude: str | None = None) -> list[tuple[D, float]]:
        """Up to `k` (document, score) pairs, best first, leaving out document `exclude`."""
        ...


def _search(index: Searchable[D], query: str, k: int, exclude: str | None) -> list[tuple[D, float]]:
    hits = index.scores(query, k, exclude)
    found = index.read([doc_id for doc_id, _ in hits]) if hits else {}
    return [(found[doc_id], score) for doc_id, score in hits if doc_id in found]


class Source(Protocol[D]):
    def build(self, conn: TenantConnection, tenant_id: str) -> Searchable[D]:
        """The tenant's index as of now; called under the tenant's lock."""
        ...


def _top(index: Bm25Index, query: str, k: int, exclude: str | None) -> list[tuple[str, float]]:
    hits = index.search(query, k + 1 if exclude is not None else k)
    return [(doc_id, score) for doc_id, score in hits if doc_id != exclude][:k]


@dataclass(frozen=True)
class Indexed(Generic[D]):
    """An index with its documents in memory."""

    index: Bm25Index
    by_id: dict[str, D]

    def scores(self, query: str, k: int, exclude: str | None = None) -> list[tuple[str, float]]:
        return _top(self.index, query, k, exclude)

    def read(self, doc_ids: Sequence[str]) -> Mapping[str, D]:
        return {doc_id: self.by_id[doc_id] for doc_id in doc_ids}

    def search(self, query: str, k: int, exclude: str | None = None) -> list[tuple[D, float]]:
        return _search(self, query, k, exclude)


@dataclass(frozen=True)
class FullBuild(Generic[D]):
    """Every document read and indexed on each build."""

    load: Callable[[TenantConnection], Sequence[D]]
    document: Callable[[D], tuple[str, str]]  # (id, text)

    def build(self, conn: TenantConnection, tenant_id: str) -> Indexed[D]:
        docs = self.load(conn)
        pairs = [self.document(doc) for doc in docs]
        by_id = {doc_id: doc for (doc_id, _), doc in zip(pairs, docs, strict=True)}
        return Indexed(Bm25Index.build(pairs), by_id)


@dataclass(frozen=True)
class IndexBuild:
    """What one build of a tenant's similar-ticket index did."""

    tenant_id: str
    origin: str
    rows_read: int  # ticket_history rows fetched for it
    rows: int  # tickets in the index
    seconds: float


@dataclass(frozen=True)
class _TicketIndex:
    """Ticket ids, tokens and embeddings in memory; the tickets themselves are read for
    the hits only, so one deleted since the last build is left out."""

    index: HybridIndex
    fetch: Callable[[Sequence[str]], Mapping[str, Ticket]]

    def scores(self, query: str, k: int, exclude: str | None = None) -> list[tuple[str, float]]:
        """Best (BM25 and embeddings fused) first, each with its 0..1 relevance."""
        return [(m.doc_id, m.relevance) for m in self.index.search(query, k, exclude)]

    def read(self, doc_ids: Sequence[str]) -> Mapping[str, Ticket]:
        return self.fetch(doc_ids)

    def search(self, query: str, k: int, exclude: str | None = None) -> list[tuple[Ticket, float]]:
        return _search(self, query, k, exclude)


@dataclass(frozen=True)
class _Copy:
    """The flow's copy of a tenant's index: what the next delta is applied to."""

    tokens: pl.DataFrame  # ticket_index.TOKENS_SCHEMA, sorted by ticket_id
    index: HybridIndex
    fitted: ticket_index.Fitted | None


def _hybrid(tokens: pl.DataFrame, bm25: Bm25Index, fitted: ticket_index.Fitted) -> HybridIndex:
    ids = tokens["ticket_id"].to_list()
    return HybridIndex(bm25, ids, ticket_index.vectors(tokens), fitted.weights)


def _matrix(tokens: pl.DataFrame, fitted: ticket_index.Fitted) -> HybridIndex:
    bm25 = Bm25Index.from_tokens(tokens["ticket_id"].to_list(), tokens["tokens"].to_list())
    return _hybrid(tokens, bm25, fitted)


class StoredTicketIndexes:
    """Similar-ticket indexes from the ticket-history artifacts under `root`."""

    def __init__(
        self,
        db: Database,
        root: Path,
        observe: Callable[[IndexBuild], None] = lambda _: None,
    ) -> None:
        self._db = db
        self._root = root
        self._observe = observe
        self._copies: dict[str, _Copy] = {}

    def build(self, conn: TenantConnection, tenant_id: str) -> _TicketIndex:
        started = time.perf_counter()
        copy = self._copies.get(tenant_id)
        if copy is None:
            copy, origin = self._start(conn, tenant_id)
        else:
            origin = DELTA
        rows_read = 0
        if origin != ARTIFACT:
            delta = ticket_index.apply_changes(
                conn,
                copy.tokens,
                ticket_index.watermark(copy.tokens),
                tokenize,
                embedding,
                copy.fitted,
            )
            rows_read = delta.rows_read
            if delta.changed or delta.refitted:
                copy = _Copy(delta.tokens, _matrix(delta.tokens, delta.fitted), delta.fitted)
        self._copies[tenant_id] = copy
        seconds = time.perf_counter() - started
        self._observe(IndexBuild(tenant_id, origin, rows_read, copy.tokens.height, seconds))
        return _TicketIndex(copy.index, lambda ids: self._fetch(tenant_id, ids))

    def _start(self, conn: TenantConnection, tenant_id: str) -> tuple[_Copy, str]:
        """The tenant's first copy and its origin: ARTIFACT if it needs no delta."""
        try:
            loaded = ticket_index.load(self._root, tenant_id)
        except Exception as exc:
            # Only this process's first build of the tenant gets here: later ones are deltas.
            log.warning(
                "tenant %s: the ticket-history index under %s is unreadable (%s: %s); "
                "reading every ticket instead",
                tenant_id,
                self._root,
                type(exc).__name__,
                exc,
            )
            return self._empty(), FULL_UNREADABLE
        if loaded is None:
            log.info(
                "tenant %s: no ticket-history index under %s yet; reading every ticket",
                tenant_id,
                self._root,
            )
            return self._empty(), FULL_NO_ARTIFACT
        if loaded.fitted is None:
            log.info(
                "tenant %s: the ticket-history index under %s has no embeddings yet; "
                "reading every ticket",
                tenant_id,
                self._root,
            )
            return self._empty(), FULL_NO_ARTIFACT
        bm25 = Bm25Index(loaded.ids, loaded.model, loaded.vocab)
        copy = _Copy(loaded.tokens, _hybrid(loaded.tokens, bm25, loaded.fitted), loaded.fitted)
        # The Dagster sensor's test of freshness: nothing added, changed or removed since.
        manifest = loaded.manifest
        current = tickets.index_version(conn) == (manifest.rows, manifest.watermark)
        return copy, ARTIFACT if current else ARTIFACT_DELTA

    @staticmethod
    def _empty() -> _Copy:
        empty = Bm25Index([], None, frozenset())
        no_vectors = HybridIndex(
            empty, [], embedding.embed([], embedding.NO_WEIGHTS), embedding.NO_WEIGHTS
        )
        return _Copy(pl.DataFrame(schema=ticket_index.TOKENS_SCHEMA), no_vectors, None)

    def _fetch(self, tenant_id: str, ticket_ids: Sequence[str]) -> dict[str, Ticket]:
        with self._db.tenant(tenant_id) as conn:
            return tickets.tickets_by_id(conn, ticket_ids)


@dataclass
class _Entry(Generic[D]):
    version: Hashable
    checked_at: float
    indexed: Searchable[D]


class TenantIndexes(Generic[D]):
    def __init__(
        self,
        db: Database,
        *,
        version: Callable[[TenantConnection], Hashable],
        source: Source[D],
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._version = version
        self._source = source
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, _Entry[D]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def get(self, tenant_id: str) -> Searchable[D]:
        with self._locks_guard:
            lock = self._locks.setdefault(tenant_id, threading.Lock())
        with lock:
            entry = self._entries.get(tenant_id)
            now = self._clock()
            if entry is not None and now - entry.checked_at < self._ttl:
                return entry.indexed
            with self._db.tenant(tenant_id) as conn:
                version = self._version(conn)
                if entry is not None and entry.version == version:
                    entry.checked_at = now
                    return entry.indexed
                indexed = self._source.build(conn, tenant_id)
            self._entries[tenant_id] = _Entry(version, now, indexed)
            return indexed
