"""What the gatherers found for one ticket: the input of synthesis, stored with the result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
    score: float


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
        """JSON-ready, for enhancement_history.context."""
        return asdict(self)
