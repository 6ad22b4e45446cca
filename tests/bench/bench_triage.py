"""Triage accuracy on labelled real tickets: priority of the shared Hadoop Jira corpus.

    .venv/bin/python -m tests.bench.bench_triage

Split by time, never by random rows: the oldest 80 % (by Created) are the resolved
history, the newest 20 % are the new tickets, so no ticket is judged with help from its
own future. Each new ticket gets the flow's suggestion: its neighbours as the gather step
finds them (flows.hybrid, BM25 and embeddings fused, twice k asked, the relevance floor,
cut to k), voted with the history's priority counts as the prior (flows.triage.vote). It
is compared with the priority its reporter/triager gave it.

Printed, in one run:
- the baseline: always the history's most common priority (the majority class);
- the plain neighbour vote (prior weight 0: what the flow did before);
- the flow's vote with the prior, with its coverage (tickets that get a suggestion at
  all: none when no neighbour passes the floor, scored as the majority class in the
  all-ticket accuracy);
- at each write-back threshold (the tenant's default 0.8 among them): how many tickets
  would have the field written (flows.triage.sure_enough) and how often rightly, beside
  the majority class on them;
- calibration: per confidence band, the mean confidence and how often it was right;
- the choice of the prior's weight on a validation split of the history alone (its
  oldest 80 % as history, the rest as new), never on the test tickets.
Balanced accuracy (mean recall per class) is printed too: the majority class is 77 % of
the test tickets and scores 20 % there.

The corpus labels priority only: no category or type column (every issue is a bug), so
those fields are measured by the flow tests, not here.

Last, the CPU the ongoing-incident check costs per event, looking at 200 recent tickets
(the most it reads): with their signatures as stored on arrival (what the flow does),
beside recomputing them from the text each time (the baseline).
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from aiops.settings import Settings
from flows import embedding
from flows.context import SimilarTicket
from flows.hybrid import HybridIndex
from flows.incidents import RecentTicket, Signature, find_incident, signature
from flows.retrieval import Bm25Index
from flows.triage import PRIOR_WEIGHT, Suggestion, sure_enough, vote
from tests.bench.corpus import CORPUS_DIR

TRAIN_SHARE = 0.8
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
TENANT_DEFAULT = 0.8  # warehouse.triage.DEFAULT_THRESHOLD
WEIGHTS = (0.0, 1.0, 2.0, 3.0, 5.0, 8.0)
BANDS = ((0.0, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01))


@dataclass(frozen=True)
class Labelled:
    issue_id: str
    summary: str
    text: str
    priority: str
    created: datetime


def load() -> list[Labelled]:
    csv.field_size_limit(10_000_000)
    with (CORPUS_DIR / "hadoop_bugs.csv").open(newline="", encoding="utf-8") as handle:
        rows = [
            Labelled(
                row["Issue id"],
                row["Summary"],
                f"{row['Summary']}\n{row['Description'] or ''}",
                row["Priority"],
                datetime.strptime(row["Created"], "%d/%b/%y %H:%M"),
            )
            for row in csv.DictReader(handle)
            if row["Priority"]
        ]
    return sorted(rows, key=lambda r: (r.created, r.issue_id))


def balanced(pairs: list[tuple[str, str]]) -> float:
    """Mean recall per true class."""
    by_class: dict[str, list[bool]] = {}
    for truth, guess in pairs:
        by_class.setdefault(truth, []).append(truth == guess)
    return sum(sum(v) / len(v) for v in by_class.values()) / len(by_class)


@dataclass(frozen=True)
class Split:
    history: list[Labelled]
    new: list[Labelled]
    counts: Counter[str]
    majority: str
    neighbours: dict[str, list[SimilarTicket]]  # new ticket id -> as the flow finds them


def split(history: list[Labelled], new: list[Labelled], k: int, floor: float) -> Split:
    by_id = {r.issue_id: r for r in history}
    docs = [(r.summary, r.text) for r in history]
    weights = embedding.fit(docs)
    index = HybridIndex(
        Bm25Index.build([(r.issue_id, r.text) for r in history]),
        [r.issue_id for r in history],
        embedding.embed(docs, weights),
        weights,
    )
    neighbours = {}
    for r in new:
        # As flows.gather: twice k asked, the floor, then k kept.
        matches = [m for m in index.search(r.text[:4_000], 2 * k) if m.relevance >= floor]
        neighbours[r.issue_id] = [
            SimilarTicket(m.doc_id, "", None, None, m.relevance, priority=by_id[m.doc_id].priority)
            for m in matches[:k]
        ]
    counts = Counter(r.priority for r in history)
    return Split(history, new, counts, counts.most_common(1)[0][0], neighbours)


def judge(s: Split, weight: float, with_prior: bool) -> list[tuple[Labelled, Suggestion | None]]:
    counts = s.counts if with_prior else None
    return [(r, vote(s.neighbours[r.issue_id], "priority", counts, weight)) for r in s.new]


def accuracy(s: Split, judged: list[tuple[Labelled, Suggestion | None]]) -> list[tuple[str, str]]:
    """(truth, guess) per ticket; no suggestion is scored as the majority class."""
    return [(r.priority, g.value if g else s.majority) for r, g in judged]


def line(name: str, s: Split, judged: list[tuple[Labelled, Suggestion | None]]) -> None:
    pairs = accuracy(s, judged)
    acc = sum(t == g for t, g in pairs) / len(pairs)
    covered = [(r, g) for r, g in judged if g is not None]
    right = sum(r.priority == g.value for r, g in covered) / len(covered) if covered else 0.0
    print(
        f"{name:<34} accuracy {acc:6.1%}   balanced {balanced(pairs):6.1%}   "
        f"coverage {len(covered) / len(judged):6.1%} (right on those {right:6.1%})"
    )


def main() -> None:
    settings = Settings()
    k, floor = settings.similar_tickets_k, settings.similar_tickets_min_relevance
    rows = load()
    cut = int(len(rows) * TRAIN_SHARE)
    history, new = rows[:cut], rows[cut:]
    print(
        f"corpus: {len(rows)} issues; history {len(history)} (to {history[-1].created:%Y-%m-%d}),"
        f" new {len(new)} (from {new[0].created:%Y-%m-%d}); k = {k}, relevance floor {floor:g}"
    )
    started = time.process_time()
    test = split(history, new, k, floor)
    print(f"priorities in history: {dict(test.counts.most_common())}")
    print(f"majority class: {test.majority} ({test.counts[test.majority] / len(history):.1%})")

    inner = int(len(history) * TRAIN_SHARE)
    valid = split(history[:inner], history[inner:], k, floor)
    print(
        f"\nvalidation (history only: {inner} older as history, {len(history) - inner} newer):"
        f" choosing the prior's weight (the flow's: {PRIOR_WEIGHT:g})"
    )
    base = sum(r.priority == valid.majority for r in valid.new) / len(valid.new)
    print(f"  {'majority class':<20} accuracy {base:6.1%}")
    for weight in WEIGHTS:
        pairs = accuracy(valid, judge(valid, weight, with_prior=True))
        acc = sum(t == g for t, g in pairs) / len(pairs)
        print(f"  {f'prior weight {weight:g}':<20} accuracy {acc:6.1%}")

    print(f"\ntest: the newest {len(new)} tickets")
    base_pairs = [(r.priority, test.majority) for r in new]
    base_acc = sum(t == g for t, g in base_pairs) / len(base_pairs)
    print(
        f"{'baseline: majority class':<34} accuracy {base_acc:6.1%}   "
        f"balanced {balanced(base_pairs):6.1%}   coverage 100.0%"
    )
    line("neighbour vote alone (before)", test, judge(test, 0.0, with_prior=False))
    started = time.process_time()
    flow = judge(test, PRIOR_WEIGHT, with_prior=True)
    vote_ms = (time.process_time() - started) * 1000 / len(new)
    line(f"vote + prior (flow, weight {PRIOR_WEIGHT:g})", test, flow)
    print(f"{'':<4}({vote_ms:.3f} ms CPU per ticket for the vote)")
    print("at a write-back threshold (fields written only from it up):")
    for threshold in THRESHOLDS:
        sure = [(r, g) for r, g in flow if g is not None and sure_enough(g, threshold)]
        mark = "  <- tenant default" if threshold == TENANT_DEFAULT else ""
        if not sure:
            print(f"{'':<4}confidence >= {threshold:.0%}: no ticket{mark}")
            continue
        hit = sum(r.priority == g.value for r, g in sure) / len(sure)
        base_hit = sum(r.priority == test.majority for r, _ in sure) / len(sure)
        print(
            f"{'':<4}confidence >= {threshold:.0%}: written for {len(sure) / len(new):6.1%}"
            f" of tickets, right {hit:6.1%} (majority class on those: {base_hit:6.1%}){mark}"
        )
    print("calibration (flow): confidence band, tickets, mean confidence, right")
    for low, high in BANDS:
        band = [(r, g) for r, g in flow if g is not None and low <= g.confidence < high]
        if band:
            mean = sum(g.confidence for _, g in band) / len(band)
            hit = sum(r.priority == g.value for r, g in band) / len(band)
            print(f"{'':<4}{low:.1f}-{min(high, 1):.1f}  {len(band):>4}   {mean:6.1%}   {hit:6.1%}")
    incident_cpu(rows)


def incident_cpu(rows: list[Labelled]) -> None:
    recent_rows = rows[-201:-1]
    now = rows[-1].created
    stored = [
        RecentTicket(
            r.issue_id,
            r.text[:2_000],
            r.created,
            Signature.from_dict(signature(r.text[:2_000]).as_dict()),
        )
        for r in recent_rows
    ]
    texts_only = [RecentTicket(r.issue_id, r.text[:2_000], r.created) for r in recent_rows]
    queries = rows[-60:]
    print(f"\nongoing-incident check over {len(stored)} recent tickets, CPU per event:")
    for name, recent in (("stored signatures", stored), ("baseline: from text", texts_only)):
        started = time.process_time()
        for q in queries:
            find_incident(signature(q.text[:2_000]), now, recent)
        ms = (time.process_time() - started) * 1000 / len(queries)
        print(f"  {name:<22} {ms:8.2f} ms")


if __name__ == "__main__":
    main()
