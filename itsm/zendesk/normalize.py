"""Zendesk webhook bodies and ticket objects to our Ticket: pure, no I/O.

Two kinds of Zendesk webhook reach `/webhook/zendesk`:
- a trigger webhook, whose JSON body the admin writes with placeholders; ours (README,
  section Zendesk) is `{"event": "created" | "solved", "ticket": {"id": "{{ticket.id}}",
  "subject": "{{ticket.title}}", ...}}`. "created" is enhanced, "solved" goes to ticket
  history with `resolution` (the `{{ticket.latest_comment}}` the agent solved it with);
- an event webhook, Zendesk's own envelope `{"type": "zen:event-type:ticket.created",
  "id": <event id>, "subject": "zen:ticket:<id>", "detail": {<ticket>}, "event": {...}}`:
  `ticket.created` is enhanced; `ticket.status_changed` to SOLVED or CLOSED goes to ticket
  history (the envelope carries no comment, so there is no resolution text); everything
  else (comments, ours coming back included, and other changes) is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiops.events import EventKind, Ticket
from itsm.base import FieldError, IgnoredEvent, NormalizationError
from itsm.flat_ticket import FlatFields, flat_ticket, text_of

EVENT_PREFIX = "zen:event-type:"
_DONE = frozenset({"solved", "closed"})
_MAX_EVENT_ID = 200

# Our trigger body's ticket (placeholder values), the event envelope's detail, and the
# REST ticket object: the same names where Zendesk uses the same names.
TRIGGER_FIELDS = FlatFields(
    id="id",
    subject="subject",
    description="description",
    priority="priority",
    status="status",
    category="type",
    requester="requester",
    requester_email="requester_email",
    tags="tags",
    resolution="resolution",
    created_at="created_at",
    updated_at="updated_at",
)
DETAIL_FIELDS = FlatFields(
    id="id",
    subject="subject",
    description="description",
    priority="priority",
    status="status",
    category="type",
    tags="tags",
    created_at="created_at",
    updated_at="updated_at",
)


def _display(field: str, value: str) -> str | None:
    """Event envelopes and the REST API give codes ("URGENT", "open"); agents see "Urgent"."""
    if field in ("priority", "status", "type"):
        return value.replace("_", " ").capitalize()
    return value


def ticket_from_api(ticket: Any, loc: tuple[str | int, ...] = ("ticket",)) -> Ticket:
    """The Ticket in a REST `GET /api/v2/tickets/{id}.json` ticket object."""
    extra = {}
    if isinstance(ticket, Mapping):
        extra = {k: ticket.get(k) for k in ("requester_id", "group_id", "organization_id", "via")}
    return flat_ticket(ticket, DETAIL_FIELDS, loc, html=False, display=_display, extra=extra)


def delivery_id_in_body(payload: Any) -> str | None:
    """An event webhook's event id: Zendesk keeps it across its retries."""
    if isinstance(payload, Mapping) and str(payload.get("type") or "").startswith(EVENT_PREFIX):
        event_id = text_of(payload.get("id"))
        if event_id and len(event_id) <= _MAX_EVENT_ID:
            return event_id
    return None


def _status(value: Any) -> str:
    return (text_of(value) or "").lower()


def _event_webhook(
    payload: Mapping[str, Any], forced: EventKind | None
) -> tuple[EventKind, Ticket]:
    event_type = str(payload["type"])[len(EVENT_PREFIX) :]
    detail = payload.get("detail")
    if not event_type.startswith("ticket."):
        raise IgnoredEvent(f"{event_type} is not about a ticket")
    given = payload.get("event")
    change: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    if event_type == "ticket.created" and forced != "resolved":
        kind: EventKind = "created"
    elif event_type == "ticket.status_changed" and _status(change.get("current")) in _DONE:
        kind = "resolved"
    else:
        raise IgnoredEvent(f"{event_type} makes no note")
    extra: dict[str, Any] = {"zendesk_event": event_type}
    if isinstance(detail, Mapping):
        extra |= {k: text_of(detail.get(k)) for k in ("requester_id", "group_id", "brand_id")}
    ticket = flat_ticket(
        detail, DETAIL_FIELDS, ("detail",), html=False, display=_display, extra=extra
    )
    return kind, ticket


def _trigger_webhook(
    payload: Mapping[str, Any], forced: EventKind | None
) -> tuple[EventKind, Ticket]:
    event = text_of(payload.get("event")) or ("solved" if forced == "resolved" else "created")
    if event not in ("created", "solved"):
        raise NormalizationError(
            [
                FieldError(
                    ("event",), "expected created or solved (see the trigger body in the README)"
                )
            ]
        )
    ticket = payload.get("ticket")
    status = _status(ticket.get("status")) if isinstance(ticket, Mapping) else ""
    kind: EventKind = "resolved" if event == "solved" or forced == "resolved" else "created"
    if kind == "resolved" and status and status not in _DONE:
        raise IgnoredEvent(f"the ticket is {status}, not solved")
    return kind, flat_ticket(ticket, TRIGGER_FIELDS, ("ticket",), html=False)


def normalize_webhook(payload: Any, kind: EventKind | None = None) -> tuple[EventKind, Ticket]:
    """The kind and ticket of a Zendesk webhook body; raises NormalizationError or
    IgnoredEvent. `kind="resolved"` (the resolved-ticket route) takes only a solved ticket."""
    if not isinstance(payload, Mapping):
        raise NormalizationError([FieldError((), "expected a JSON object")])
    if str(payload.get("type") or "").startswith(EVENT_PREFIX):
        return _event_webhook(payload, kind)
    if "ticket" in payload:
        return _trigger_webhook(payload, kind)
    raise NormalizationError(
        [FieldError(("ticket",), "required: the trigger body's ticket, or an event envelope")]
    )
