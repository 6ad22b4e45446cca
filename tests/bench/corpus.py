"""The Hadoop Jira corpus and its human duplicate links (shared/fixtures/tickets)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = (
    Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "tickets" / "gitbugs_hadoop"
)


@dataclass(frozen=True)
class Issue:
    issue_id: str
    summary: str
    description: str

    @property
    def text(self) -> str:
        return f"{self.summary}\n{self.description}"


def load_issues() -> dict[str, Issue]:
    csv.field_size_limit(10_000_000)
    with (CORPUS_DIR / "hadoop_bugs.csv").open(newline="", encoding="utf-8") as handle:
        return {
            row["Issue id"]: Issue(row["Issue id"], row["Summary"], row["Description"] or "")
            for row in csv.DictReader(handle)
        }


def load_duplicate_links(split: str = "combined") -> dict[str, set[str]]:
    """Issue id -> the ids a human marked as its duplicates."""
    links: dict[str, set[str]] = {}
    with (CORPUS_DIR / f"hadoop_bugs-{split}.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            targets = {t.strip() for t in row["Duplicate id"].split(",") if t.strip()}
            links.setdefault(row["Issue id"].strip(), set()).update(targets)
    return links
