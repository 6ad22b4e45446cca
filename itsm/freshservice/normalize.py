"""Freshservice Workflow Automator webhook bodies and ticket objects to our Ticket: pure.

The webhook body is the "Advanced" JSON an admin writes in a Workflow Automator's Trigger
Webhook node (README, section Freshservice): `{"event": "created" | "resolved", "ticket":
{"id": "{{ticket.id}}", "subject": "{{ticket.subject}}", "description":
"{{ticket.description}}", ...}}`. Placeholders fill in what agents see: the id as
"#INC-42" or "42", status "Open", priority "High", HTML descriptions. "created" is
enhanced; "resolved" goes to ticket history with `resolution` (the reply that resolved
it), our own note never standing in for it; anything else is ignored.

The REST ticket (`GET /api/v2/tickets/{id}`) has codes instead: priority 1-4 and status
2-5, shown as Freshservice shows them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiops.events import EventKind, Ticket
from itsm.base import FieldError, IgnoredEvent, NormalizationError
from itsm.flat_ticket import FlatFields, flat_ticket, text_of

# Every note we post carries this (flows.writeback.marker).
OWN_NOTE_MARK = "AI Ops ref "
PRIORITIES = {"1": "Low", "2": "Medium", "3": "High", "4": "Urgent"}
STATUSES = {"2": "Open", "3": "Pending", "4": "Resolved", "5": "Closed"}
_DONE = frozenset({"resolved", "closed"})
# "#INC-42", "SR-7", "42": the number is what the REST API takes.
_DISPLAY_ID = re.compile(r"^#?(?:[A-Za-z]+-)?(\d{1,18})$")

WEBHOOK_FIELDS = FlatFields(
    id="id",
    subject="subject",
    description="description",
    priority="priority",
    status="status",
    category="category",
    requester="requester",
    requester_email="requester_email",
    tags="tags",
    resolution="resolution",
    created_at="created_at",
    updated_at="updated_at",
)
API_FIELDS = FlatFields(
    id="id",
    subject="subject",
    description="description",
    priority="priority",
    status="status",
    category="category",
    tags="tags",
    created_at="created_at",
    updated_at="updated_at",
)


def ticket_number(value: Any) -> str | None:
    """The ticket's number in a placeholder's display form, or None."""
    text = text_of(value)
    match = _DISPLAY_ID.match(text) if text else None
    return match[1] if match else None


def _api_display(field: str, value: str) -> str | None:
    if field == "priority":
        return PRIORITIES.get(value, value)
    if field == "status":
        return STATUSES.get(value, value)
    return value


def ticket_from_api(ticket: Any, loc: tuple[str | int, ...] = ("ticket",)) -> Ticket:
    extra = {}
    if isinstance(ticket, Mapping):
        extra = {k: ticket.get(k) for k in ("type", "requester_id", "group_id", "department_id")}
    return flat_ticket(ticket, API_FIELDS, loc, html=True, display=_api_display, extra=extra)


def _resolution(ticket: Mapping[str, Any]) -> str | None:
    text = text_of(ticket.get("resolution"))
    return None if text is None or OWN_NOTE_MARK in text else text


def normalize_webhook(payload: Any, kind: EventKind | None = None) -> tuple[EventKind, Ticket]:
    """The kind and ticket of a Workflow Automator body; raises NormalizationError or
    IgnoredEvent. `kind="resolved"` (the resolved-ticket route) takes only a resolved one."""
    if not isinstance(payload, Mapping):
        raise NormalizationError([FieldError((), "expected a JSON object")])
    ticket = payload.get("ticket")
    if not isinstance(ticket, Mapping):
        raise NormalizationError([FieldError(("ticket",), "required: the ticket object")])
    event = text_of(payload.get("event")) or ("resolved" if kind == "resolved" else "created")
    if event not in ("created", "resolved"):
        raise IgnoredEvent(f"a {event!r} workflow makes no note")
    event_kind: EventKind = "resolved" if event == "resolved" or kind == "resolved" else "created"
    status = (text_of(ticket.get("status")) or "").lower()
    if event_kind == "resolved" and status and status not in _DONE:
        raise IgnoredEvent(f"the ticket is {status}, not resolved")
    number = ticket_number(ticket.get("id"))
    if number is None:
        raise NormalizationError(
            [FieldError(("ticket", "id"), "expected the ticket id, e.g. 42 or #INC-42")]
        )
    extra = {"display_id": text_of(ticket.get("id")), "type": text_of(ticket.get("type"))}
    resolution = _resolution(ticket) if event_kind == "resolved" else None
    return event_kind, flat_ticket(
        {**ticket, "id": number, "resolution": resolution},
        WEBHOOK_FIELDS,
        ("ticket",),
        html=True,
        extra=extra,
    )
