"""The triage part of one event: suggestions and the ongoing incident for its note, the
ticket's own fields written where the tenant allows it.

flows.process reads the `Facts` (the tenant's policy and its recent tickets) in the
event's begin transaction, calls `assess` after gathering and `apply` before the note is
posted. Writing a field is a
courtesy to the dispatcher: when it fails, the event still succeeds and the history row
says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiops.events import Event
from flows.context import Context
from flows.incidents import Incident, RecentTicket, Signature, find_incident
from flows.triage import Priors, Suggestion, WritePolicy, note_lines, suggest, to_write
from flows.triage_model import combine, model_suggestions, split_answer
from flows.triage_priors import HistoryPriors
from itsm.base import FieldWriter, ItsmClient
from warehouse import triage as store
from warehouse.db import TenantConnection

log = logging.getLogger(__name__)

_ERROR_CHARS = 500


@dataclass
class Triage:
    suggestions: list[Suggestion]
    policy: WritePolicy
    incident: Incident | None = None
    written: dict[str, str] = field(default_factory=dict)
    write_error: str | None = None
    signature: Signature = field(default_factory=Signature)

    def note_section(self) -> str:
        lines = note_lines(self.suggestions, self.written)
        if self.incident is not None:
            lines = [self.incident.note_line(), *([""] if lines else []), *lines]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "suggestions": [s.as_dict() for s in self.suggestions],
            "write_fields": self.policy.write_fields,
            "threshold": self.policy.threshold,
            "written": self.written,
            "write_error": self.write_error,
            "incident": self.incident.as_dict() if self.incident else None,
            "signature": self.signature.as_dict(),
        }


def take_model_answer(triage: Triage, text: str) -> str:
    """The note without the model's TRIAGE line; its suggestions joined to the history's."""
    note, answer = split_answer(text)
    triage.suggestions = combine(triage.suggestions, model_suggestions(answer))
    return note


def with_section(text: str, triage: Triage) -> str:
    """The note: the model's (or offline) text, then the triage section."""
    section = triage.note_section()
    return f"{text.rstrip()}\n\n{section}" if section else text


@dataclass(frozen=True)
class Facts:
    """What triage reads as the event begins, in the event's begin transaction."""

    signature: Signature
    settings: store.TriageSettings
    recent: list[RecentTicket]
    priors: Priors


def read_facts(
    conn: TenantConnection,
    event: Event,
    mine: Signature,
    window: timedelta,
    priors: HistoryPriors,
) -> Facts:
    """The tenant's policy and its recent tickets; the caller has recorded `mine` in the
    same transaction, for the tickets that come after this one."""
    # Only the recent tickets that may resemble this one; an empty signature resembles none.
    rows = (
        []
        if mine.empty
        else store.recent_tickets(conn, event.received_at, window, event.ticket.id, mine.as_dict())
    )
    stored = [Signature.from_dict(r.signature) for r in rows]
    # A stored signature is used as is; a row without a usable one is compared by its text.
    unread = [r.event_id for r, s in zip(rows, stored, strict=True) if s is None and r.text is None]
    texts = store.texts(conn, unread) if unread else {}
    recent = [
        RecentTicket(
            r.ticket_id,
            r.text if r.text is not None else texts.get(r.event_id, ""),
            r.received_at,
            signature,
        )
        for r, signature in zip(rows, stored, strict=True)
    ]
    return Facts(mine, store.get_settings(conn), recent, priors.get(conn, event.tenant_id))


def assess(facts: Facts, event: Event, context: Context) -> Triage:
    """The history's suggestions and the ongoing incident. Pure."""
    incident = find_incident(facts.signature, event.received_at, facts.recent)
    settings = facts.settings
    policy = WritePolicy(settings.write_fields, settings.threshold, settings.fields)
    return Triage(
        suggest(context.similar_tickets, facts.priors), policy, incident, signature=facts.signature
    )


def apply(
    triage: Triage, event: Event, client: ItsmClient, retry: Callable[[Callable[[], None]], None]
) -> None:
    """Writes the sure suggestions to the ticket, if the tenant and the plugin allow it."""
    if not triage.policy.write_fields:
        return
    if not isinstance(client, FieldWriter):
        triage.write_error = f"the {event.source} plugin cannot set ticket fields"
        return
    chosen = to_write(triage.suggestions, event.ticket, triage.policy, client.writable_fields)
    if not chosen:
        return
    try:
        retry(lambda: client.set_fields(event.ticket.id, chosen))
    except Exception as exc:
        triage.write_error = f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]
        log.warning(
            "tenant %s ticket %s: triage fields not set: %s",
            event.tenant_id,
            event.ticket.id,
            triage.write_error,
        )
        return
    triage.written = chosen
