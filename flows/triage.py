"""Category, priority and type suggestions: what the tenant's similar resolved tickets were
filed as, and which of them may be written to the ticket's own fields.

A weighted k-nearest-neighbour vote: each similar ticket votes for its own value with its
retrieval score. Confidence is the winner's share of the votes, shrunk by how few voters
there were (n / (n + 1)): two agreeing neighbours are not as sure as five. Pure logic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from aiops.events import Ticket
from flows.context import SimilarTicket
from itsm.base import TRIAGE_FIELDS

HISTORY = "similar resolved tickets"
_TYPE_KEYS = ("request_type", "issue_type", "type", "ticket_type")


@dataclass(frozen=True)
class Suggestion:
    field: str  # one of itsm.base.TRIAGE_FIELDS
    value: str
    confidence: float  # 0..1
    origin: str
    votes: int  # neighbours that voted for it
    voters: int  # neighbours that had the field at all

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WritePolicy:
    """A tenant's choice: write suggestions to the ticket, from which confidence, which."""

    write_fields: bool = False
    threshold: float = 0.8
    fields: tuple[str, ...] = TRIAGE_FIELDS


def ticket_type(ticket: Ticket) -> str | None:
    """The ticket's request/issue type where its plugin keeps one among the extra fields."""
    for key in _TYPE_KEYS:
        value = ticket.extra.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def current_value(ticket: Ticket, field: str) -> str | None:
    if field == "category":
        return ticket.category
    if field == "priority":
        return ticket.priority
    return ticket_type(ticket)


def _neighbour_value(similar: SimilarTicket, field: str) -> str | None:
    value = {"category": similar.category, "priority": similar.priority, "type": similar.type}[
        field
    ]
    return value.strip() if value and value.strip() else None


def vote(similar: Sequence[SimilarTicket], field: str) -> Suggestion | None:
    """The weighted majority among the neighbours that have the field, or None."""
    weights: dict[str, float] = {}
    counts: dict[str, int] = {}
    # Case-insensitive votes, shown as the spelling met first (the most similar ticket's).
    spelling: dict[str, str] = {}
    for neighbour in similar:
        value = _neighbour_value(neighbour, field)
        if value is None:
            continue
        key = value.casefold()
        spelling.setdefault(key, value)
        # A zero score still counts as a voter, with a small weight.
        weights[key] = weights.get(key, 0.0) + max(neighbour.score, 1e-6)
        counts[key] = counts.get(key, 0) + 1
    if not weights:
        return None
    voters = sum(counts.values())
    total = sum(weights.values())
    # Ties go to the value with more votes, then to the most similar ticket's.
    order = list(spelling)
    best = max(weights, key=lambda k: (weights[k], counts[k], -order.index(k)))
    confidence = weights[best] / total * voters / (voters + 1)
    return Suggestion(field, spelling[best], round(confidence, 3), HISTORY, counts[best], voters)


def suggest(similar: Sequence[SimilarTicket]) -> list[Suggestion]:
    """One suggestion per field the neighbours have, in TRIAGE_FIELDS order."""
    return [s for f in TRIAGE_FIELDS if (s := vote(similar, f)) is not None]


def to_write(
    suggestions: Sequence[Suggestion],
    ticket: Ticket,
    policy: WritePolicy,
    writable: Sequence[str],
) -> dict[str, str]:
    """The fields to set: turned on, sure enough, the ITSM has the field, and it changes."""
    if not policy.write_fields:
        return {}
    chosen: dict[str, str] = {}
    for s in suggestions:
        if s.field not in policy.fields or s.field not in writable:
            continue
        if not s.voters:  # the model's alone: the ticket's text may have steered it
            continue
        if s.confidence < policy.threshold:
            continue
        current = current_value(ticket, s.field)
        if current is not None and current.casefold() == s.value.casefold():
            continue
        chosen[s.field] = s.value
    return chosen


def note_lines(suggestions: Sequence[Suggestion], written: Mapping[str, str]) -> list[str]:
    """The note's triage section, one line per suggestion."""
    if not suggestions:
        return []
    lines = ["Suggested triage:"]
    for s in suggestions:
        set_note = " - set on the ticket" if s.field in written else ""
        basis = f"{s.votes} of {s.voters} similar tickets" if s.voters else "the model's view"
        if s.voters and s.origin != HISTORY:
            basis += ", the model agrees"
        lines.append(
            f"- {s.field.capitalize()}: {s.value} ({s.confidence:.0%} confidence, "
            f"{basis}){set_note}"
        )
    return lines
