"""What an enhancement agent's version says, and the pure rules that read it.

A version is data, not code: instructions to the model, which context sources it uses and
how many items of each, the relevance floor, the note's shape, the model chain, the
write-back mode, and which tickets it applies to. Test-case expectations are typed here
too, with the one function that checks them against a result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from aiops.events import Ticket

AgentId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
# The agent every tenant without one of its own gets: today's behaviour, version 0.
DEFAULT_AGENT = "default"
DEFAULT_VERSION = 0

_Short = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
_ModelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][\w.:/@-]{0,199}$")]


class Sources(BaseModel):
    """Which context sources the agent reads, and how many items of each."""

    model_config = ConfigDict(extra="forbid")

    similar_tickets: int = Field(default=5, ge=0, le=20, description="0: not searched.")
    kb_articles: int = Field(default=3, ge=0, le=20, description="0: not searched.")
    inventory: bool = True
    monitoring: bool = Field(default=True, description="Only if the tenant has an endpoint.")


class NoteShape(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sections: list[_Short] = Field(
        default_factory=list,
        max_length=12,
        description="Headings the note has, in order, e.g. ['Likely cause', 'Next steps']; "
        "empty: the model chooses.",
    )
    max_chars: int = Field(
        default=4_000, ge=200, le=20_000, description="Longer answers are cut to this."
    )
    language: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] = (
        Field(default="en", description="BCP 47 tag of the note's language, e.g. en, de, pt-BR.")
    )


class AppliesTo(BaseModel):
    """Every non-empty list must match (any of its values); all lists empty: every ticket."""

    model_config = ConfigDict(extra="forbid")

    categories: list[_Short] = Field(default_factory=list, max_length=100)
    priorities: list[_Short] = Field(default_factory=list, max_length=20)
    keywords: list[_Short] = Field(
        default_factory=list, max_length=100, description="Any of them in subject or description."
    )

    @property
    def is_all(self) -> bool:
        return not (self.categories or self.priorities or self.keywords)


class AgentSpec(BaseModel):
    """One version of an agent. Immutable once stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instructions: str = Field(
        default="",
        max_length=8_000,
        description="The tenant's own instructions to the model. Quoted in a fence below "
        "the platform's rules: they shape the note, they cannot lift those rules, and text "
        "in a ticket cannot override them.",
    )
    sources: Sources = Field(default_factory=Sources)
    min_relevance: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Similar tickets and articles scoring below this are left out (the "
        "trace keeps their scores).",
    )
    note: NoteShape = Field(default_factory=NoteShape)
    models: list[_ModelName] = Field(
        default_factory=list,
        max_length=5,
        description="Model chain, tried in order on the tenant's own endpoint and key; "
        "empty: the tenant's (or the installation's) chain.",
    )
    write_back: Literal["post", "shadow"] = Field(
        default="post", description="post: the note goes to the ticket; shadow: stored only."
    )
    applies_to: AppliesTo = Field(default_factory=AppliesTo)


def default_spec(similar_k: int, kb_k: int) -> AgentSpec:
    """Today's behaviour, for a tenant without an agent of its own."""
    return AgentSpec(sources=Sources(similar_tickets=similar_k, kb_articles=kb_k))


def _folded(values: list[str]) -> set[str]:
    return {v.casefold() for v in values}


def applies(rules: AppliesTo, ticket: Ticket) -> tuple[bool, str]:
    """Whether the rules select the ticket, and why (for the trace)."""
    if rules.is_all:
        return True, "applies to every ticket"
    if rules.categories and (ticket.category or "").casefold() not in _folded(rules.categories):
        return False, f"category {ticket.category!r} is not one of {rules.categories}"
    if rules.priorities and (ticket.priority or "").casefold() not in _folded(rules.priorities):
        return False, f"priority {ticket.priority!r} is not one of {rules.priorities}"
    if rules.keywords:
        text = f"{ticket.subject}\n{ticket.description}".casefold()
        found = [k for k in rules.keywords if k.casefold() in text]
        if not found:
            return False, f"none of the keywords {rules.keywords} is in the ticket"
        return True, f"matches the rules (keywords {found})"
    return True, "matches the rules"


# Test-case expectations ------------------------------------------------------------------


class Cites(BaseModel):
    """The note names this id (a KB article, a past ticket), e.g. KB-101."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["cites"] = "cites"
    value: _Short


class Mentions(BaseModel):
    """The note contains this text, case-insensitively, e.g. a host name."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["mentions"] = "mentions"
    value: _Short


class Avoids(BaseModel):
    """The note does not contain this text, case-insensitively."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["avoids"] = "avoids"
    value: _Short


class ShorterThan(BaseModel):
    """The note has fewer than this many characters."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["shorter_than"] = "shorter_than"
    value: int = Field(ge=1, le=100_000)


class Category(BaseModel):
    """The ticket's category, as the run saw it, is this one (case-insensitive)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["category"] = "category"
    value: _Short


class Succeeds(BaseModel):
    """The run made a note (no stage failed, and the version applies to the ticket)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["succeeds"] = "succeeds"


Expectation = Annotated[
    Cites | Mentions | Avoids | ShorterThan | Category | Succeeds, Field(discriminator="kind")
]


@dataclass(frozen=True)
class RunFacts:
    """What a run produced that expectations look at."""

    status: str  # succeeded | failed | not_applicable
    note: str
    category: str | None


def check(expectation: Expectation, facts: RunFacts) -> str | None:
    """None when it holds, else why not."""
    note = facts.note.casefold()
    match expectation:
        case Cites(value=value) if value.casefold() not in note:
            return f"the note does not cite {value}"
        case Mentions(value=value) if value.casefold() not in note:
            return f"the note does not mention {value!r}"
        case Avoids(value=value) if value.casefold() in note:
            return f"the note mentions {value!r}"
        case ShorterThan(value=value) if len(facts.note) >= value:
            return f"the note has {len(facts.note)} characters, not fewer than {value}"
        case Category(value=value) if (facts.category or "").casefold() != value.casefold():
            return f"category is {facts.category!r}, not {value!r}"
        case Succeeds() if facts.status != "succeeded":
            return f"the run {facts.status.replace('_', ' ')}"
    return None


def failures(expectations: list[Expectation], facts: RunFacts) -> list[str]:
    """Why each failing expectation fails; empty when all hold. A run that made no note
    fails, whatever it expected."""
    if facts.status != "succeeded":
        return [f"the run {facts.status.replace('_', ' ')}: no note to check"]
    return [why for e in expectations if (why := check(e, facts)) is not None]
