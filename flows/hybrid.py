"""Similar tickets by BM25 and embeddings together, each scored by how close it is.

BM25 finds tickets that share rare words (a host name, an exception class); the static
embeddings (flows.embedding) find those that say the same thing in other words. Each wins
on different tickets, so the two rankings are fused by reciprocal rank: a ticket's fused
score is the sum over both lists of 1 / (RRF_K + rank). On the Hadoop duplicate links
(tests/bench/bench_retrieval.py) recall@10 goes from 0.78 (BM25) to 0.85.

Relevance, the 0..1 "how close" shown in the note and held against the floor, is the
cosine of the two tickets' embeddings: it reads the same in every tenant and for every
query, which a BM25 score does not (it grows with the query's length and the corpus).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flows import embedding
from flows.retrieval import Bm25Index

# Fewer candidates than this from each list would let a ticket ranked 11th in both lists
# (a strong fused candidate) fall out before fusion.
CANDIDATES = 100
# Small: a ticket at the top of one list counts for much more than one at 30th.
# Chosen on the Hadoop links among 10, 30 and 60 (10 best; 60 is the textbook value).
RRF_K = 10


@dataclass(frozen=True)
class Match:
    doc_id: str
    fused: float  # reciprocal-rank score: orders the results
    relevance: float  # 0..1 cosine closeness: the floor and the note use it


def fuse(rankings: Sequence[Sequence[str]], rrf_k: int = RRF_K) -> dict[str, float]:
    """Reciprocal-rank fusion of ranked id lists (best first)."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking, start=1):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (rrf_k + rank)
    return fused


class HybridIndex:
    def __init__(
        self, bm25: Bm25Index, ids: list[str], vectors: np.ndarray, weights: np.ndarray
    ) -> None:
        """`vectors[i]` is flows.embedding.embed() of ticket `ids[i]` under `weights`."""
        self.bm25 = bm25
        self._ids = ids
        self._row = {doc_id: row for row, doc_id in enumerate(ids)}
        self._vectors = vectors
        self._weights = weights

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def weights(self) -> np.ndarray:
        return self._weights

    def vector(self, doc_id: str) -> np.ndarray | None:
        row = self._row.get(doc_id)
        return None if row is None else self._vectors[row]

    def embed_query(self, query: str) -> np.ndarray:
        return embedding.embed([embedding.split_query(query)], self._weights)[0]

    def by_embedding(self, vector: np.ndarray, n: int, exclude: str | None) -> list[str]:
        """Ids of the `n` tickets closest to `vector`, closest first."""
        if not self._ids or n <= 0:
            return []
        # einsum, not `@`: numpy's BLAS spreads a matrix-vector product over every core and
        # spins, 20 times the CPU of this single-threaded loop for a tenant's few thousand.
        sims = np.einsum("ij,j->i", self._vectors, vector)
        if exclude in self._row:
            sims[self._row[exclude]] = -np.inf
        n = min(n, len(self._ids))
        top = np.argpartition(-sims, n - 1)[:n]
        top = top[np.argsort(-sims[top], kind="stable")]
        return [self._ids[i] for i in top if sims[i] > -np.inf]

    def search(self, query: str, k: int, exclude: str | None = None) -> list[Match]:
        """Up to `k` matches, best fused first, leaving out document `exclude`."""
        if k <= 0 or not self._ids:
            return []
        n = max(CANDIDATES, k)
        lexical = [d for d, _ in self.bm25.search(query, n + 1) if d != exclude][:n]
        vector = self.embed_query(query)
        semantic = self.by_embedding(vector, n, exclude)
        fused = fuse([lexical, semantic])
        best = sorted(fused, key=lambda d: (-fused[d], d))[:k]
        return [
            Match(
                d, fused[d], max(0.0, min(1.0, float(np.dot(self._vectors[self._row[d]], vector))))
            )
            for d in best
        ]
