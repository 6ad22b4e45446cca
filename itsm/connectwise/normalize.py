"""ConnectWise PSA callbacks and service tickets to our Ticket: pure, no I/O.

A ticket callback (System > Callbacks, type Ticket) is
`{"MessageId", "FromUrl", "CompanyId", "MemberId", "Action": "added"|"updated"|"deleted",
"Type": "ticket", "ID": <ticket id>, "Entity": "<the ticket as a JSON string>", ...}`.
It is not signed in a way we can check (see itsm.connectwise.plugin), so nothing in it is
used as ticket content: the event carries only the ticket id and what to do, and the flow
reads the ticket through the REST API (`Event.fetch`). What each callback means:
- `added` -> created: the flow fetches the ticket and enhances it;
- `updated` -> a resolved candidate: the flow fetches the ticket and stores it in the
  history only if ConnectWise says it is closed. Most updates are of open tickets (our own
  note among them): when the Entity says `"closedFlag": false` the callback is ignored
  without a fetch. That hint can only save work: a forged "closed" costs one read of the
  real ticket, and a forged "open" cannot hide a real callback, which ConnectWise sends itself;
- `deleted`, and callbacks of other record types -> IgnoredEvent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from aiops.events import EventKind, Ticket
from itsm.base import FieldError, IgnoredEvent, NormalizationError
from itsm.fields import clip, max_length, unstorable

Loc = tuple[str | int, ...]

_SUBJECT_LIMIT = max_length("subject")
_DESCRIPTION_LIMIT = max_length("description")
_MAX_TICKET_ID = 20  # ConnectWise ids are integers
_EXTRA_NAMES = ("board", "company", "type", "subType", "item", "team", "source", "location")


def _name(value: Any, attribute: str = "name") -> str | None:
    if isinstance(value, Mapping):
        inner = value.get(attribute)
        return inner if isinstance(inner, str) and inner else None
    return value if isinstance(value, str) and value else None


def _time(value: Any, loc: Loc, errors: list[FieldError]) -> datetime | None:
    """ConnectWise times: ISO 8601 in UTC, "2026-11-30T08:14:02Z"."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    errors.append(FieldError(loc, "expected an ISO 8601 time"))
    return None


def ticket_id_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    text = str(value).strip() if isinstance(value, int | str) else ""
    return text if text.isdigit() and len(text) <= _MAX_TICKET_ID else None


def _entity(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    raw = payload.get("Entity")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    return raw if isinstance(raw, Mapping) else None


def pointer_ticket(ticket_id: str, last_updated: datetime | None = None) -> Ticket:
    """What the event carries for a callback: the id, and a subject saying it is unread."""
    return Ticket(
        id=ticket_id,
        subject=f"ConnectWise ticket #{ticket_id} (read from ConnectWise when processed)",
        updated_at=last_updated,
    )


def normalize_callback(payload: Any, kind: EventKind | None = None) -> tuple[EventKind, Ticket]:
    """The event kind and a pointer ticket (id only) for one ticket callback."""
    if not isinstance(payload, Mapping):
        raise NormalizationError([FieldError((), "expected a JSON object")])
    record_type = payload.get("Type")
    if isinstance(record_type, str) and record_type.lower() != "ticket":
        raise IgnoredEvent(f"a {record_type} callback, not a ticket")
    ticket_id = ticket_id_of(payload.get("ID"))
    if ticket_id is None:
        raise NormalizationError([FieldError(("ID",), "required: the ticket id (an integer)")])
    action = payload.get("Action")
    if not isinstance(action, str) or action not in ("added", "updated", "deleted"):
        if kind is None:
            raise NormalizationError(
                [FieldError(("Action",), "must be one of added, updated, deleted")]
            )
        action = "updated"
    if action == "deleted":
        raise IgnoredEvent("a deleted ticket")
    entity = _entity(payload)
    hint = entity.get("_info") if entity is not None else None
    errors: list[FieldError] = []
    stamp = hint.get("lastUpdated") if isinstance(hint, Mapping) else None
    last_updated = _time(stamp, ("Entity", "_info", "lastUpdated"), errors)
    if kind is None:
        if action == "added":
            # No time in the id: every copy of the one "added" is the same event.
            return "created", pointer_ticket(ticket_id)
        if entity is not None and entity.get("closedFlag") is False:
            raise IgnoredEvent("an update of an open ticket: nothing to enhance or store")
    return "resolved", pointer_ticket(ticket_id, None if errors else last_updated)


def _notes_text(notes: Sequence[Mapping[str, Any]], flag: str) -> str:
    texts = [
        n["text"].strip()
        for n in notes
        if n.get(flag) is True and isinstance(n.get("text"), str) and n["text"].strip()
    ]
    return "\n\n".join(texts)


def ticket_from_service_ticket(
    ticket: Any, notes: Sequence[Any] = (), loc: Loc = ("ticket",)
) -> Ticket:
    """The Ticket in a `GET /service/tickets/{id}` answer, with its description and
    resolution from the ticket's notes (ConnectWise keeps both there, flagged
    detailDescriptionFlag and resolutionFlag). Raises NormalizationError."""
    errors: list[FieldError] = []
    if not isinstance(ticket, Mapping):
        raise NormalizationError([FieldError(loc, "required: the ConnectWise service ticket")])
    ticket_id = ticket_id_of(ticket.get("id"))
    if ticket_id is None:
        errors.append(FieldError((*loc, "id"), "required: the ticket id (an integer)"))
    readable = [n for n in notes if isinstance(n, Mapping)]
    summary = ticket.get("summary")
    subject = summary.strip() if isinstance(summary, str) else ""
    description = _notes_text(readable, "detailDescriptionFlag")
    if not subject and not description:
        errors.append(FieldError((*loc, "summary"), "summary or a description note is required"))
    raw_info = ticket.get("_info")
    info: Mapping[str, Any] = raw_info if isinstance(raw_info, Mapping) else {}
    closed = ticket.get("closedFlag") is True
    contact = _name(ticket.get("contact")) or _name(ticket.get("contactName"))
    fields: dict[str, Any] = {
        "priority": _name(ticket.get("priority")),
        "status": _name(ticket.get("status")),
        "category": _name(ticket.get("type")),
        "requester": contact,
        "requester_email": _name(ticket.get("contactEmailAddress")),
        "resolution": _notes_text(readable, "resolutionFlag") or None,
        "created_at": _time(
            ticket.get("dateEntered") or info.get("dateEntered"), (*loc, "dateEntered"), errors
        ),
        "updated_at": _time(info.get("lastUpdated"), (*loc, "_info", "lastUpdated"), errors),
    }
    # Closed is what counts; a closed ticket without a closedDate was closed by its last save.
    closed_at = _time(ticket.get("closedDate"), (*loc, "closedDate"), errors)
    fields["resolved_at"] = (closed_at or fields["updated_at"]) if closed else None
    extra: dict[str, Any] = {key: _name(ticket.get(key)) for key in _EXTRA_NAMES}
    extra["company"] = _name(ticket.get("company"), "identifier") or extra["company"]
    extra |= {
        "severity": _name(ticket.get("severity")),
        "impact": _name(ticket.get("impact")),
        "closed": closed,
    }
    for key, value in extra.items():
        problem = unstorable(value)
        if problem is not None:
            errors.append(FieldError((*loc, key), problem))
    if errors or ticket_id is None:
        raise NormalizationError(errors)
    try:
        return Ticket(
            id=ticket_id,
            subject=clip(subject, _SUBJECT_LIMIT),
            description=clip(description, _DESCRIPTION_LIMIT),
            extra={key: value for key, value in extra.items() if value not in (None, "")},
            **fields,
        )
    except ValidationError as exc:
        raise NormalizationError(
            [FieldError((*loc, *e["loc"]), e["msg"]) for e in exc.errors()]
        ) from exc


def is_closed(ticket: Ticket) -> bool:
    return ticket.extra.get("closed") is True
