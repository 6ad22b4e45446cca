"""Similar tickets: the relevance floor, the fused ranking against BM25 alone, and the
ticket-history index embedding only what changed."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from aiops.crypto import SecretBox
from aiops.events import Ticket
from cli.demo_data import HISTORY
from flows import embedding
from flows.agents import GatherPlan
from flows.gather import Gatherer
from flows.hybrid import HybridIndex
from flows.indexes import FullBuild, StoredTicketIndexes, TenantIndexes
from flows.retrieval import Bm25Index, tokenize
from tests.bench.corpus import load_duplicate_links, load_issues
from tests.flows.conftest import add_tenant, seed
from tests.flows.events import event
from warehouse import knowledge, tickets
from warehouse.analytics import ticket_index
from warehouse.db import Database

FLOOR = 0.45
OUTLOOK = (
    "Outlook asks for my password every few minutes",
    "Hi, since this morning Outlook keeps popping up a password box. I type my password and "
    "it comes back 5 minutes later. Teams and webmail are fine.",
)


def _gatherer(db: Database, root: Path, pool: ThreadPoolExecutor, http: httpx.Client) -> Gatherer:
    return Gatherer(
        db,
        TenantIndexes(
            db,
            version=tickets.index_version,
            source=StoredTicketIndexes(db, root),
            ttl_seconds=30,
        ),
        TenantIndexes(
            db,
            version=knowledge.articles_version,
            source=FullBuild(
                load=knowledge.all_articles, document=lambda a: (a.article_id, a.title)
            ),
            ttl_seconds=30,
        ),
        http,
        pool,
        similar_k=5,
        min_relevance=FLOOR,
        kb_k=3,
        timeout_seconds=5,
    )


def test_the_floor_leaves_out_unrelated_tickets_and_no_floor_gives_the_full_k(
    db: Database, box: SecretBox, tenant_id: str, tmp_path: Path
) -> None:
    tenant = add_tenant(db, box, tenant_id)
    seed(db, tenant_id, history=HISTORY)
    subjects = {t.id: t.subject for t in HISTORY}
    with ThreadPoolExecutor(2) as pool, httpx.Client() as http:
        gatherer = _gatherer(db, tmp_path, pool, http)
        new = event(tenant_id, "NEW-1", *OUTLOOK)
        floored = gatherer.gather(new, tenant).similar_tickets
        no_floor = GatherPlan(similar_k=5, kb_k=3, min_relevance=0.0)
        unfloored = gatherer.gather(new, tenant, no_floor).similar_tickets
    assert [subjects[t.ticket_id] for t in floored] == [subjects["DEMO-H001"]]
    assert floored[0].resolution and "Credential Manager" in floored[0].resolution
    assert FLOOR <= floored[0].score <= 1
    # Without the floor the disk-space and Teams tickets fill the k: what the note used to list.
    assert len(unfloored) == 5
    assert unfloored[0].ticket_id == "DEMO-H001"
    listed = {subjects[t.ticket_id] for t in unfloored}
    assert any("Disk space" in s for s in listed) or any("Teams" in s for s in listed)
    assert all(t.score < FLOOR for t in unfloored[1:])


def _recall(rankings: dict[str, list[str]], links: dict[str, set[str]]) -> int:
    return sum(bool(links[q] & set(found[:10])) for q, found in rankings.items())


def test_fused_ranking_finds_at_least_what_bm25_alone_finds_on_labelled_duplicates() -> None:
    issues = load_issues()
    links = load_duplicate_links()
    ids = sorted(issues)
    docs = [(issues[i].summary, issues[i].text) for i in ids]
    weights = embedding.fit(docs)
    bm25 = Bm25Index.build([(i, text) for i, (_, text) in zip(ids, docs, strict=True)])
    hybrid = HybridIndex(bm25, ids, embedding.embed(docs, weights), weights)
    lexical, fused = {}, {}
    for q in links:
        text = issues[q].text
        lexical[q] = [d for d, _ in bm25.search(text, 11) if d != q][:10]
        fused[q] = [m.doc_id for m in hybrid.search(text, 10, exclude=q)]
        assert len(fused[q]) == 10
    assert _recall(fused, links) >= _recall(lexical, links) + len(links) // 20


class _Counting:
    """The real embedder, counting the tickets it embeds and the fits."""

    def __init__(self) -> None:
        self.embedded = 0
        self.fits = 0

    def fit(self, docs: Sequence[tuple[str, str]]) -> np.ndarray:
        self.fits += 1
        return embedding.fit(docs)

    def embed(self, docs: Sequence[tuple[str, str]], weights: np.ndarray) -> np.ndarray:
        self.embedded += len(docs)
        return embedding.embed(docs, weights)


def _ticket(n: int, subject: str) -> Ticket:
    return Ticket(id=f"T{n}", subject=subject, description=f"details of {subject} #{n}")


def test_the_index_embeds_only_new_and_changed_tickets_until_the_history_doubles(
    db: Database, box: SecretBox, tenant_id: str, tmp_path: Path
) -> None:
    add_tenant(db, box, tenant_id)
    counting = _Counting()

    def refresh() -> ticket_index.Refresh:
        with db.tenant(tenant_id) as conn:
            return ticket_index.refresh(conn, tmp_path, tenant_id, tokenize, counting)

    seed(db, tenant_id, history=[_ticket(n, f"printer jam {n}") for n in range(10)])
    first = refresh()
    assert (counting.fits, counting.embedded, first.refitted) == (1, 10, True)
    before = ticket_index.load(tmp_path, tenant_id)
    assert before is not None and before.fitted is not None

    seed(db, tenant_id, history=[_ticket(3, "VPN drops"), _ticket(10, "disk full")])
    second = refresh()
    assert (counting.fits, counting.embedded, second.refitted) == (1, 12, False)
    after = ticket_index.load(tmp_path, tenant_id)
    assert after is not None and after.fitted is not None
    assert np.array_equal(after.fitted.weights, before.fitted.weights)
    old, new = ticket_index.vectors(before.tokens), ticket_index.vectors(after.tokens)
    rows = {tid: i for i, tid in enumerate(after.ids)}
    for i, tid in enumerate(before.ids):
        changed = tid == "T3"
        assert np.array_equal(old[i], new[rows[tid]]) != changed, tid

    unchanged = refresh()
    assert (counting.embedded, unchanged.rebuilt) == (12, False)

    # Past twice the rows the weights were fitted on: refit, and every ticket re-embedded.
    seed(db, tenant_id, history=[_ticket(n, f"mailbox full {n}") for n in range(11, 21)])
    grown = refresh()
    assert (counting.fits, counting.embedded, grown.refitted) == (2, 12 + 21, True)
    assert grown.fitted.rows == 21
