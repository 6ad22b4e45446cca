"""A Ticket from a flat JSON object of strings and numbers: what an admin-defined webhook
body (Zendesk triggers, Freshservice Workflow Automator) and most REST ticket reads hold.

Pure, no I/O. Placeholders an ITSM leaves empty arrive as "" and count as absent; every
field that is present but unreadable is reported at once, with where it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from aiops.events import Ticket
from itsm.base import FieldError, NormalizationError
from itsm.fields import clip, max_length, unstorable
from itsm.html_text import html_to_text

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class FlatFields:
    """Which key of the object holds what (None: this ITSM has no such field)."""

    id: str
    subject: str
    description: str | None
    priority: str | None = None
    status: str | None = None
    category: str | None = None
    requester: str | None = None
    requester_email: str | None = None
    tags: str | None = None
    resolution: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    resolved_at: str | None = None


def text_of(value: Any) -> str | None:
    """A string or number as text; "" and anything else as None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def timestamp_of(value: Any, loc: Loc, errors: list[FieldError]) -> datetime | None:
    """ISO 8601 (with Z or an offset), "2024-03-14 10:22:05 +0000", or epoch seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        for attempt in (text, text.replace(" +", "+").replace(" -", "-")):
            try:
                parsed = datetime.fromisoformat(attempt)
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    errors.append(FieldError(loc, "expected an ISO 8601 time"))
    return None


def tags_of(value: Any) -> list[str]:
    """A list of tags, or one string of them separated by spaces or commas."""
    if isinstance(value, list):
        return [t for t in (text_of(v) for v in value) if t]
    text = text_of(value)
    if text is None:
        return []
    return [part for part in text.replace(",", " ").split() if part]


def flat_ticket(
    item: Any,
    fields: FlatFields,
    loc: Loc,
    *,
    html: bool,
    display: Callable[[str, str], str | None] = lambda field, value: value,
    resolution: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Ticket:
    """The Ticket in `item`; raises NormalizationError naming every bad field.

    `html`: the description (and resolution) are HTML fragments. `display(field, value)`
    turns a code into what an agent sees (Freshservice priority 3 -> "High").
    """
    if not isinstance(item, Mapping):
        raise NormalizationError([FieldError(loc, "required: the ticket object")])
    errors: list[FieldError] = []
    ticket_id = text_of(item.get(fields.id))
    if ticket_id is None:
        errors.append(FieldError((*loc, fields.id), "required: the ticket id"))

    def read(key: str | None) -> str | None:
        if key is None:
            return None
        value = item.get(key)
        if value is not None and not isinstance(value, str | int | float):
            errors.append(FieldError((*loc, key), "expected text"))
            return None
        text = text_of(value)
        return display(key, text) if text is not None else None

    subject = read(fields.subject) or ""
    raw_description = read(fields.description) or ""
    description = html_to_text(raw_description) if html else raw_description
    if not subject and not description:
        errors.append(FieldError((*loc, fields.subject), "subject or description is required"))
    given_resolution = resolution or read(fields.resolution)
    if given_resolution and html:
        given_resolution = html_to_text(given_resolution)
    times = {
        name: timestamp_of(item.get(key), (*loc, key), errors) if key else None
        for name, key in (
            ("created_at", fields.created_at),
            ("updated_at", fields.updated_at),
            ("resolved_at", fields.resolved_at),
        )
    }
    kept = {k: v for k, v in (extra or {}).items() if v not in (None, "", [])}
    problem = unstorable(kept)
    if problem is not None:
        errors.append(FieldError(loc, problem))
    if errors:
        raise NormalizationError(errors)
    assert ticket_id is not None
    try:
        return Ticket(
            id=ticket_id,
            subject=clip(subject, max_length("subject")),
            description=clip(description, max_length("description")),
            priority=read(fields.priority),
            status=read(fields.status),
            category=read(fields.category),
            requester=read(fields.requester),
            requester_email=read(fields.requester_email),
            tags=tags_of(item.get(fields.tags)) if fields.tags else [],
            resolution=clip(given_resolution, max_length("description"))
            if given_resolution
            else None,
            extra=kept,
            **times,
        )
    except ValidationError as exc:
        raise NormalizationError(
            [FieldError((*loc, *e["loc"]), e["msg"]) for e in exc.errors()]
        ) from exc
