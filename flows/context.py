"""What the gatherers found for one ticket: the input of synthesis, stored with the result."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
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
        return {f.name: _shallow(getattr(self, f.name)) for f in fields(self)}


def _shallow(value: Any) -> Any:
    """A field's value with its dataclasses (which hold none) as dicts, one level down."""
    if is_dataclass(value):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    if isinstance(value, list):
        return [_shallow(item) for item in value]
    if isinstance(value, dict):
        return dict(value)
    return value
