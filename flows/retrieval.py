"""BM25 ranking for similar tickets and KB articles.

Measured on the Hadoop Jira corpus (tests/bench/bench_retrieval.py): PostgreSQL full-text
search ANDs the query terms and finds nothing for most tickets; BM25 finds the linked
duplicate in the top 10 for most of them. bm25s builds the index (each term's documents
with their precomputed BM25 weights); we add up a query's terms ourselves (see `_scores`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

_TOKEN = re.compile(r"[a-z0-9][a-z0-9_.\-]*[a-z0-9]|[a-z0-9]{2,}")
_STOPWORDS = frozenset(STOPWORDS_EN)


def tokenize(text: str) -> list[str]:
    """Lower-cased words; keeps identifiers like `srv-dc01` or `hadoop.io.ipc` whole, and
    also their dotted/dashed parts, so both the host name and its pieces can match."""
    tokens: list[str] = []
    for match in _TOKEN.findall(text.lower()):
        if match in _STOPWORDS:
            continue
        tokens.append(match)
        parts = re.split(r"[._\-]+", match)
        if len(parts) > 1:
            tokens.extend(p for p in parts if len(p) > 1 and p not in _STOPWORDS)
    return tokens


@lru_cache(maxsize=256)
def _query_tokens(query: str) -> tuple[str, ...]:
    """tokenize() of a query, kept for the next search with it: an event's similar-ticket
    and KB searches use the same query, and tokenizing a ticket's text costs more than
    scoring it. 256 covers the events in flight; a tuple, so no caller can change it."""
    return tuple(tokenize(query))


class Bm25Index:
    def __init__(self, ids: list[str], model: bm25s.BM25 | None, vocab: frozenset[str]) -> None:
        self._ids = ids
        self._model = model
        self._vocab = vocab

    @classmethod
    def build(cls, docs: Sequence[tuple[str, str]]) -> Bm25Index:
        """`docs` are (document id, text) pairs."""
        return cls.from_tokens([doc_id for doc_id, _ in docs], [tokenize(t) for _, t in docs])

    @classmethod
    def from_tokens(cls, ids: list[str], corpus: list[list[str]]) -> Bm25Index:
        """`corpus[i]` is tokenize() of document `ids[i]`: the matrix without re-tokenizing."""
        vocab = frozenset(token for tokens in corpus for token in tokens)
        if not vocab:
            return cls(ids, None, vocab)
        model = bm25s.BM25()
        model.index(corpus, show_progress=False)
        return cls(ids, model, vocab)

    def __len__(self) -> int:
        return len(self._ids)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Up to `k` (document id, score) pairs, best first (ties: the earlier document);
        only documents sharing a term."""
        if self._model is None or k <= 0:  # an empty index (a tenant without KB articles)
            return []
        terms = Counter(t for t in _query_tokens(query) if t in self._vocab)
        if not terms:
            return []
        scores = self._scores(self._model, terms)
        k = min(k, len(self._ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]
        return [(self._ids[int(doc)], float(scores[doc])) for doc in top if scores[doc] > 0]

    @staticmethod
    def _scores(model: bm25s.BM25, terms: Counter[str]) -> np.ndarray:
        """Every document's BM25 score for the query's terms, as bm25s scores them: the sum
        of each term's precomputed weights, a term repeated in the query counted as often.

        Why not bm25s.retrieve: around the same sum it sets up a batch (argument checks, a
        progress bar, its own top-k) on every call, and adds a repeated term's postings once
        per repetition. Summing here, each term once times its count, halves the BM25 CPU
        p95 at 100,000 tickets (6.1 to 3.2 ms; p50 1.8 to 1.4 ms;
        tests/bench/bench_retrieval_scale.py prints both). Our index is
        bm25s' default (Lucene's BM25), which has no score for a term a document lacks, so
        the postings are the whole score.

        All the terms' postings are added in one np.add.at, in the query's term order: each
        document's sum is the same float32 additions in the same order as a loop over the
        terms would make, without a NumPy call per term (a ticket's text has ~50 terms)."""
        index = model.scores
        data, indices, indptr = index["data"], index["indices"], index["indptr"]
        scores = np.zeros(int(index["num_docs"]), dtype=np.float32)
        vocab = model.vocab_dict
        found = [(vocab[term], repeats) for term, repeats in terms.items() if term in vocab]
        if not found:
            return scores
        tokens = np.array([token for token, _ in found], dtype=np.int64)
        starts = indptr[tokens]
        lengths = indptr[tokens + 1] - starts
        # Positions in `data`/`indices` of every term's postings, one term after another.
        skips = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        postings = np.arange(int(lengths.sum())) + skips
        counts = np.repeat(np.array([r for _, r in found], dtype=np.float32), lengths)
        np.add.at(scores, indices[postings], data[postings] * counts)
        return scores
