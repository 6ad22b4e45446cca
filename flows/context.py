"""What the gatherers found for one ticket: the input of synthesis, stored with the result."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from flows.extract import Mentions
from warehouse.knowledge import Host

OK = "ok"
EMPTY = "empty"


def failed(reason: str) -> str:
    return f"failed: {reason}"


@dataclass(frozen=True)
class SimilarTicket:
    ticket_id: str
    subject: str
    resolution: str | None
    category: str | None
    score: float  # relevance 0..1: how close the two tickets are (flows.hybrid)
    priority: str | None = None
    type: str | None = None  # request or issue type, where the history keeps one


@dataclass(frozen=True)
class KbArticle:
    article_id: str
    title: str
    url: str | None
    excerpt: str
    score: float


@dataclass
class Context:
    similar_tickets: list[SimilarTicket] = field(default_factory=list)
    kb_articles: list[KbArticle] = field(default_factory=list)
    mentions: Mentions = field(default_factory=Mentions)
    hosts: list[Host] = field(default_factory=list)
    monitoring: Any = None
    # Per source: "ok", "empty", or "failed: <why>"; a failed source never fails the event.
    sources: dict[str, str] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Per source: items found but left out (below the agent's min_relevance), with why.
    dropped: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for enhancement_history.context: what `dataclasses.asdict` gives,
        without its deep copy of every value (a context is not changed once gathered),
        which cost as much CPU as the search that found the similar tickets."""
        return {
            "similar_tickets": [_flat(t) for t in self.similar_tickets],
            "kb_articles": [_flat(a) for a in self.kb_articles],
            "mentions": _flat(self.mentions),
            "hosts": [_flat(h) for h in self.hosts],
            "monitoring": self.monitoring,
            "sources": dict(self.sources),
            "timings_ms": dict(self.timings_ms),
            "dropped": {name: list(items) for name, items in self.dropped.items()},
        }


def _flat(item: SimilarTicket | KbArticle | Mentions | Host) -> dict[str, Any]:
    """A dataclass whose fields hold no dataclass, as a dict of its fields."""
    return {f.name: getattr(item, f.name) for f in fields(item)}
