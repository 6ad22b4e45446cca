"""Retrieval quality on a tenant's own labels: how often a human-linked duplicate is in the
top 10, and how many of the top 5 share the ticket's category."""

from __future__ import annotations

from collections.abc import Mapping, Set

from flows.hybrid import HybridIndex

MAX_QUERIES = 200


def sample(ids: Set[str], limit: int = MAX_QUERIES) -> list[str]:
    """An even, repeatable spread over the ids."""
    ordered = sorted(ids)
    step = max(1, len(ordered) // limit)
    return ordered[::step][:limit]


def _neighbours(index: HybridIndex, ticket_id: str, text: str, k: int) -> list[str]:
    return [match.doc_id for match in index.search(text, k, exclude=ticket_id)]


def duplicate_recall(
    index: HybridIndex,
    texts: Mapping[str, str],
    duplicates: Mapping[str, Set[str]],
    k: int = 10,
) -> float | None:
    """Share of `texts` (the queries) with a linked duplicate among their top k."""
    queries = [tid for tid in texts if duplicates.get(tid)]
    if not queries:
        return None
    hits = sum(
        bool(duplicates[tid] & set(_neighbours(index, tid, texts[tid], k))) for tid in queries
    )
    return hits / len(queries)


def category_precision(
    index: HybridIndex,
    texts: Mapping[str, str],
    categories: Mapping[str, str],
    k: int = 5,
) -> float | None:
    """Mean share of the top k that have the query's category; None unless the labels
    tell tickets apart (at least two categories)."""
    if len(set(categories.values())) < 2:
        return None
    queries = [tid for tid in texts if tid in categories]
    if not queries:
        return None
    total = 0.0
    for tid in queries:
        found = _neighbours(index, tid, texts[tid], k)
        total += sum(categories.get(doc) == categories[tid] for doc in found) / k
    return total / len(queries)
