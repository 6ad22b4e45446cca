"""Similar-ticket retrieval quality and speed on real Jira issues with duplicate links.

    .venv/bin/python -m tests.bench.bench_retrieval

Recall@10 = share of linked issues whose human-marked duplicate is among the 10 results
(the issue itself excluded). Baselines in the same run, on the same corpus, in a real
PostgreSQL: full-text search with plainto_tsquery (terms ANDed) and an OR query ranked by
ts_rank — what the obvious implementation would do.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import psycopg

from aiops.embedded import embedded_postgres
from flows.retrieval import Bm25Index
from tests.bench.corpus import load_duplicate_links, load_issues

K = 10


def _report(name: str, hits: int, total: int, latencies: list[float]) -> None:
    p50 = statistics.median(latencies) * 1000
    p95 = statistics.quantiles(latencies, n=20)[18] * 1000
    print(
        f"{name:<34} recall@{K} {hits / total:6.1%} ({hits}/{total})"
        f"   p50 {p50:7.2f} ms  p95 {p95:7.2f} ms"
    )


def main() -> None:
    issues = load_issues()
    links = load_duplicate_links()
    print(f"corpus: {len(issues)} issues, {len(links)} with duplicate links")

    started = time.perf_counter()
    index = Bm25Index.build([(i.issue_id, i.text) for i in issues.values()])
    print(f"bm25 index build: {(time.perf_counter() - started) * 1000:.0f} ms")

    hits, latencies = 0, []
    for issue_id, targets in links.items():
        t = time.perf_counter()
        found = [d for d, _ in index.search(issues[issue_id].text, K + 1) if d != issue_id][:K]
        latencies.append(time.perf_counter() - t)
        hits += bool(targets & set(found))
    _report("bm25 (flows.retrieval)", hits, len(links), latencies)

    with (
        tempfile.TemporaryDirectory(prefix="aiops-bench-", dir="/tmp") as state,
        embedded_postgres(Path(state)) as (_, owner_url),
        psycopg.connect(owner_url, autocommit=True) as conn,
    ):
        conn.execute(
            "CREATE TEMP TABLE issues (id text PRIMARY KEY, body text, "
            "search tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO issues (id, body) VALUES (%s, %s)",
                [(i.issue_id, i.text) for i in issues.values()],
            )
        conn.execute("CREATE INDEX ON issues USING gin (search)")
        conn.execute("ANALYZE issues")
        queries = {
            "postgres plainto_tsquery (AND)": "plainto_tsquery('english', %(q)s)",
            "postgres OR, ts_rank": (
                "CAST(replace(plainto_tsquery('english', %(q)s)::text, '&', '|') AS tsquery)"
            ),
        }
        for name, tsquery in queries.items():
            hits, latencies = 0, []
            for issue_id, targets in links.items():
                t = time.perf_counter()
                rows = conn.execute(
                    f"SELECT id FROM issues, {tsquery} AS q WHERE search @@ q AND id <> %(id)s "
                    "ORDER BY ts_rank(search, q) DESC LIMIT %(k)s",
                    {"q": issues[issue_id].text[:4000], "id": issue_id, "k": K},
                ).fetchall()
                latencies.append(time.perf_counter() - t)
                hits += bool(targets & {r[0] for r in rows})
            _report(name, hits, len(links), latencies)


if __name__ == "__main__":
    main()
