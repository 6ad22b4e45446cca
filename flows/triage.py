"""Category, priority and type suggestions: what the tenant's similar resolved tickets were
filed as, and which of them may be written to the ticket's own fields.

A weighted k-nearest-neighbour vote joined with the class prior: each similar ticket votes
for its own value with its relevance (0..1), and the tenant's whole history adds
PRIOR_WEIGHT votes shared as its values are (a value on 70 % of the history gets 70 % of
them). A value's confidence is its share of all those votes:

    (neighbour votes for it + PRIOR_WEIGHT * its history share) / (all votes + PRIOR_WEIGHT)

so weak evidence (few or distant neighbours) falls back to what the tenant usually files,
and only neighbours that agree, and are close, outvote it. With no history counts the
prior's votes go to no value: confidence is then shrunk by how little evidence there is.

Why: on the Hadoop priorities a plain vote scored below always answering the majority class
(71.9 % against 76.6 %, tests/bench/bench_triage.py); a suggestion worse than the tenant's
habit is no use. Pure logic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from aiops.events import Ticket
from flows.context import SimilarTicket
from itsm.base import TRIAGE_FIELDS
from warehouse.tickets import TYPE_KEYS

HISTORY = "similar resolved tickets"
# The prior's weight in neighbour votes. Chosen on the older part of the Hadoop history (the
# benchmark's validation split, never its test tickets): with 5 neighbours, weights 0 to 2
# score below the majority class, 3 above it, 5 and 8 only equal it (they never let the
# neighbours outvote the habit).
PRIOR_WEIGHT = 3.0

# Per field, how many of the tenant's history tickets have each value (as spelt there).
Priors = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True)
class Suggestion:
    field: str  # one of itsm.base.TRIAGE_FIELDS
    value: str
    confidence: float  # 0..1
    origin: str
    votes: int  # neighbours that voted for it
    voters: int  # neighbours that had the field at all
    prior: float = 0.0  # the value's share of the tenant's history

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
    for key in TYPE_KEYS:
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


def _history_shares(counts: Mapping[str, int]) -> tuple[dict[str, float], dict[str, str]]:
    """Each value's share of the history (case-insensitive) and its most common spelling.

    Shares are of one more ticket than were counted: the next may be filed as something new,
    so a value on all of 5 tickets is 5/6, not certain."""
    totals: dict[str, int] = {}
    spelling: dict[str, tuple[int, str]] = {}
    for value, n in counts.items():
        key = value.strip().casefold()
        if not key or n <= 0:
            continue
        totals[key] = totals.get(key, 0) + n
        spelling[key] = max(spelling.get(key, (0, value.strip())), (n, value.strip()))
    seen = sum(totals.values())
    shares = {key: n / (seen + 1) for key, n in totals.items()}
    return shares, {key: s for key, (_, s) in spelling.items()}


def vote(
    similar: Sequence[SimilarTicket],
    field: str,
    counts: Mapping[str, int] | None = None,
    prior_weight: float = PRIOR_WEIGHT,
) -> Suggestion | None:
    """The most likely value given the neighbours and the history's `counts` (see the
    module docstring), or None when no neighbour has the field: no evidence about this
    ticket, so no suggestion."""
    weights: dict[str, float] = {}
    votes: dict[str, int] = {}
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
        votes[key] = votes.get(key, 0) + 1
    if not weights:
        return None
    shares, usual = _history_shares(counts or {})
    for key, value in usual.items():
        spelling.setdefault(key, value)
    voters = sum(votes.values())
    total = sum(weights.values()) + prior_weight

    def confidence(key: str) -> float:
        return (weights.get(key, 0.0) + prior_weight * shares.get(key, 0.0)) / total

    # Ties go to the value with more votes, then the more common, then the most similar's.
    order = list(spelling)
    best = max(
        spelling,
        key=lambda k: (confidence(k), votes.get(k, 0), shares.get(k, 0.0), -order.index(k)),
    )
    return Suggestion(
        field,
        spelling[best],
        round(confidence(best), 3),
        HISTORY,
        votes.get(best, 0),
        voters,
        round(shares.get(best, 0.0), 3),
    )


def suggest(similar: Sequence[SimilarTicket], priors: Priors | None = None) -> list[Suggestion]:
    """One suggestion per field the neighbours have, in TRIAGE_FIELDS order."""
    priors = priors or {}
    return [s for f in TRIAGE_FIELDS if (s := vote(similar, f, priors.get(f))) is not None]


def sure_enough(suggestion: Suggestion, threshold: float) -> bool:
    """Whether a suggestion may be written: from the threshold up, and backed by at least
    one similar ticket filed so. The model's alone is not (the ticket's text may have
    steered it), nor the tenant's habit alone against every neighbour that has the field."""
    return suggestion.votes > 0 and suggestion.confidence >= threshold


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
        if not sure_enough(s, policy.threshold):
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
        if s.voters and s.prior:
            basis += f", {s.prior:.0%} of all tickets"
        if s.voters and s.origin != HISTORY:
            basis += ", the model agrees"
        lines.append(
            f"- {s.field.capitalize()}: {s.value} ({s.confidence:.0%} confidence, "
            f"{basis}){set_note}"
        )
    return lines
