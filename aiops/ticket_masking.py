"""Masking a ticket's text fields: credentials before anything durable holds the ticket.

Ingest masks credentials before the event enters the stream, and every write to
ticket_history masks them again (imports and the API write there without passing ingest),
so no pasted password reaches the stream, its append-only file, the dead-letter stream or
the database. Personal data is masked later, by the flow, for tenants that ask for it.
"""

from __future__ import annotations

from typing import Any

from aiops.events import Event, Ticket
from aiops.redaction import Redactor, holds_no_secret

CREDENTIALS = Redactor()


def mask_ticket(ticket: Ticket, redactor: Redactor = CREDENTIALS) -> Ticket:
    """The ticket with every text field masked; ids and timestamps as they are. A ticket
    with nothing to mask (most of them) is returned itself rather than copied."""
    masked: dict[str, Any] = {"description": redactor.text(ticket.description)}
    short = [
        ticket.priority,
        ticket.status,
        ticket.category,
        ticket.requester,
        ticket.requester_email,
        ticket.resolution,
    ]
    # The subject and the short fields hold nothing to mask in most tickets: one scan of
    # them all tells that, where each alone would cost a scan of its own. (A description
    # often holds a word that may start a secret, "client" or "access": it is left out.)
    texts = "\n".join([ticket.subject, *[t for t in short if t is not None], *ticket.tags])
    if redactor.personal or not holds_no_secret(texts):
        masked |= {
            "subject": redactor.text(ticket.subject),
            "priority": redactor.optional(ticket.priority),
            "status": redactor.optional(ticket.status),
            "category": redactor.optional(ticket.category),
            "requester": redactor.optional(ticket.requester),
            "requester_email": redactor.optional(ticket.requester_email),
            "tags": [redactor.text(t) for t in ticket.tags],
            "resolution": redactor.optional(ticket.resolution),
        }
    if ticket.extra:
        masked["extra"] = redactor.value(ticket.extra)
    changed = {name: value for name, value in masked.items() if value != getattr(ticket, name)}
    return ticket.model_copy(update=changed) if changed else ticket


def mask_credentials(event: Event) -> Event:
    """The event as the stream may hold it: its ticket's credentials masked."""
    return event.model_copy(update={"ticket": mask_ticket(event.ticket)})
