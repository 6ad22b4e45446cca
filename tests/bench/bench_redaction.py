"""Masking throughput on real tickets (the Hadoop Jira corpus in shared/fixtures/tickets).

    .venv/bin/python -m tests.bench.bench_redaction [--rounds 3]

Per round, over every issue's summary and description: no masking at all, for scale the
BM25 tokenizing the flow already does to every ticket's text, credentials only, and
credentials plus personal data. Prints MB/s and microseconds per ticket for the best
round of each, and how many findings of each kind the corpus holds.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter
from collections.abc import Callable

from aiops.redaction import Redactor
from flows.retrieval import tokenize
from tests.bench.corpus import load_issues

_FINDING = re.compile(r"\[(?:REDACTED:[a-z_]+|EMAIL|PHONE|NAME)\]")


def _best_seconds(texts: list[str], mask: Callable[[str], str], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for text in texts:
            mask(text)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    texts = [issue.text for issue in load_issues().values()]
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    print(f"{len(texts)} tickets, {megabytes:.2f} MB, best of {args.rounds} rounds")
    runs: dict[str, Callable[[str], str]] = {
        "no masking": str,
        "BM25 tokenize (for scale)": lambda text: " ".join(tokenize(text)),
        "credentials": Redactor().text,
        "credentials + personal": Redactor(personal=True).text,
    }
    for name, mask in runs.items():
        seconds = _best_seconds(texts, mask, args.rounds)
        print(
            f"{name:26} {megabytes / seconds:9.1f} MB/s  "
            f"{seconds / len(texts) * 1e6:9.1f} us/ticket"
        )
    found = Counter(
        m for text in texts for m in _FINDING.findall(Redactor(personal=True).text(text))
    )
    print("findings:", ", ".join(f"{kind} {n}" for kind, n in found.most_common()))


if __name__ == "__main__":
    main()
