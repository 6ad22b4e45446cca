"""One BM25 index per tenant, rebuilt when the tenant's data changes.

The version query is cheap (count and newest update); building is not, so a tenant's
index is rebuilt only when its version moved, and the version itself is checked at most
once per `ttl_seconds`. Concurrent events of one tenant wait for one build, not many.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from flows.retrieval import Bm25Index
from warehouse.db import Database, TenantConnection

D = TypeVar("D")


@dataclass(frozen=True)
class Indexed(Generic[D]):
    index: Bm25Index
    by_id: dict[str, D]

    def search(self, query: str, k: int, exclude: str | None = None) -> list[tuple[D, float]]:
        hits = self.index.search(query, k + 1 if exclude is not None else k)
        return [(self.by_id[doc_id], score) for doc_id, score in hits if doc_id != exclude][:k]


@dataclass
class _Entry(Generic[D]):
    version: Hashable
    checked_at: float
    indexed: Indexed[D]


class TenantIndexes(Generic[D]):
    def __init__(
        self,
        db: Database,
        *,
        version: Callable[[TenantConnection], Hashable],
        load: Callable[[TenantConnection], Sequence[D]],
        document: Callable[[D], tuple[str, str]],
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._version = version
        self._load = load
        self._document = document
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, _Entry[D]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def get(self, tenant_id: str) -> Indexed[D]:
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
                docs = self._load(conn)
            self._entries[tenant_id] = entry = _Entry(version, now, self._build(docs))
            return entry.indexed

    def _build(self, docs: Sequence[D]) -> Indexed[D]:
        pairs = [self._document(doc) for doc in docs]
        by_id = {doc_id: doc for (doc_id, _), doc in zip(pairs, docs, strict=True)}
        return Indexed(Bm25Index.build(pairs), by_id)
