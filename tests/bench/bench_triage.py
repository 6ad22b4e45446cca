"""Triage accuracy on labelled real tickets: priority of the shared Hadoop Jira corpus.

    .venv/bin/python -m tests.bench.bench_triage

Split by time, never by random rows: the oldest 80 % (by Created) are the resolved
history, the newest 20 % are the new tickets, so no ticket is judged with help from its
own future. Each new ticket gets the flow's suggestion (flows.triage.vote over the BM25
neighbours the gather step finds, flows.retrieval) and is compared with the priority its
reporter/triager gave it. Baseline in the same run: always the history's most common
priority (the majority class). Balanced accuracy (mean recall per class) is printed too,
because the majority class is 69 % of this corpus and scores 20 % there.

The corpus labels priority only (no category or type column): those fields are measured
by the flow tests, not here.

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

from flows.context import SimilarTicket
from flows.incidents import RecentTicket, Signature, find_incident, signature
from flows.retrieval import Bm25Index
from flows.triage import vote
from tests.bench.corpus import CORPUS_DIR

TRAIN_SHARE = 0.8
KS = (5, 10, 20)
THRESHOLDS = (0.5, 0.6, 0.7, 0.8)


@dataclass(frozen=True)
class Labelled:
    issue_id: str
    text: str
    priority: str
    created: datetime


def load() -> list[Labelled]:
    csv.field_size_limit(10_000_000)
    with (CORPUS_DIR / "hadoop_bugs.csv").open(newline="", encoding="utf-8") as handle:
        rows = [
            Labelled(
                row["Issue id"],
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


def main() -> None:
    rows = load()
    cut = int(len(rows) * TRAIN_SHARE)
    history, new = rows[:cut], rows[cut:]
    by_id = {r.issue_id: r for r in history}
    majority, majority_n = Counter(r.priority for r in history).most_common(1)[0]
    print(
        f"corpus: {len(rows)} issues; history {len(history)} (to {history[-1].created:%Y-%m-%d}),"
        f" new {len(new)} (from {new[0].created:%Y-%m-%d})"
    )
    print(f"priorities in history: {dict(Counter(r.priority for r in history).most_common())}")
    print(f"majority class: {majority} ({majority_n / len(history):.1%} of history)")
    index = Bm25Index.build([(r.issue_id, r.text) for r in history])

    base = [(r.priority, majority) for r in new]
    base_acc = sum(t == g for t, g in base) / len(base)
    print(
        f"\n{'baseline: majority class':<32} accuracy {base_acc:6.1%}   "
        f"balanced {balanced(base):6.1%}   coverage 100.0%"
    )
    for k in KS:
        started = time.process_time()
        judged: list[tuple[Labelled, str | None, float]] = []
        for r in new:
            neighbours = [
                SimilarTicket(doc_id, "", None, None, score, priority=by_id[doc_id].priority)
                for doc_id, score in index.search(r.text[:4_000], k)
            ]
            found = vote(neighbours, "priority")
            judged.append((r, found.value if found else None, found.confidence if found else 0))
        cpu_ms = (time.process_time() - started) * 1000 / len(new)
        # No neighbour at all: the suggestion is missing; scored as the majority class.
        pairs = [(r.priority, guess or majority) for r, guess, _ in judged]
        acc = sum(t == g for t, g in pairs) / len(pairs)
        print(
            f"{f'kNN vote, k={k}':<32} accuracy {acc:6.1%}   balanced {balanced(pairs):6.1%}"
            f"   coverage 100.0%   ({cpu_ms:.2f} ms CPU per ticket)"
        )
        for threshold in THRESHOLDS:
            sure = [(r, g) for r, g, c in judged if g is not None and c >= threshold]
            if not sure:
                print(f"{'':<4}confidence >= {threshold:.0%}: no ticket")
                continue
            hit = sum(r.priority == g for r, g in sure) / len(sure)
            base_hit = sum(r.priority == majority for r, _ in sure) / len(sure)
            print(
                f"{'':<4}confidence >= {threshold:.0%}: written for {len(sure) / len(new):6.1%}"
                f" of tickets, right {hit:6.1%} (majority class on those: {base_hit:6.1%})"
            )
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
