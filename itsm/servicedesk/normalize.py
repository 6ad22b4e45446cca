"""ServiceDesk Plus v3 request objects to our Ticket: pure, no I/O.

Lenient where SDP is (ids as numbers or strings, lookups as objects, plain names or null,
times as {"value": "<epoch ms>"} or bare epoch ms), strict where it matters (an id, and a
subject or description), with every problem reported by location.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from aiops.events import EventKind, Ticket
from itsm.base import FieldError, NormalizationError
from itsm.fields import clip, is_mapping, max_length, unstorable
from itsm.html_text import html_to_text

Loc = tuple[str | int, ...]

_KINDS: dict[str, EventKind] = {"created": "created", "updated": "updated", "resolved": "resolved"}

# Lookups worth keeping for context (routing, impact, who works it); stored by name.
_EXTRA_LOOKUPS = (
    "site",
    "group",
    "technician",
    "impact",
    "urgency",
    "mode",
    "item",
    "subcategory",
    "request_type",
    "level",
    "service_category",
    "template",
)
_EXTRA_TEXTS = ("display_id", "impact_details")
# Read once: pydantic builds these field infos anew on every access.
_SUBJECT_LIMIT = max_length("subject")
_DESCRIPTION_LIMIT = max_length("description")


class _Reader:
    """Reads one SDP object, collecting a FieldError per bad field instead of stopping."""

    def __init__(self, obj: Mapping[str, Any], loc: Loc) -> None:
        self.obj = obj
        self.loc = loc
        self.errors: list[FieldError] = []

    def _fail(self, key: str, msg: str) -> None:
        self.errors.append(FieldError((*self.loc, key), msg))

    def identifier(self, key: str) -> str | None:
        value = self.obj.get(key)
        if type(value) is not str and (isinstance(value, bool) or not isinstance(value, str | int)):
            self._fail(key, "required: a string or number")
            return None
        text = str(value).strip()
        if not text:
            self._fail(key, "must not be empty")
            return None
        return text

    def text(self, key: str) -> str | None:
        value = self.obj.get(key)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        self._fail(key, "expected a string")
        return None

    def html(self, key: str) -> str | None:
        value = self.text(key)
        return None if value is None else html_to_text(value)

    def name(self, key: str, attribute: str = "name") -> str | None:
        """A lookup (`{"name": ...}`), a plain name, or null."""
        value = self.obj.get(key)
        if value is None or isinstance(value, str):
            return value or None
        if is_mapping(value):
            inner = value.get(attribute)
            if inner is None or isinstance(inner, str):
                return inner or None
            self._fail(key, f"expected {attribute} to be a string")
            return None
        self._fail(key, f"expected an object with {attribute}, a string or null")
        return None

    def timestamp(self, key: str) -> datetime | None:
        """SDP datetimes: {"value": "<epoch ms>", "display_value": ...}, or bare epoch ms."""
        value = self.obj.get(key)
        if is_mapping(value):
            value = value.get("value")
        if value is None or value == "":
            return None
        try:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
                return datetime.fromtimestamp(int(value) / 1000, UTC)
            if isinstance(value, str):
                parsed = datetime.fromisoformat(value)
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (ValueError, OverflowError, OSError):
            pass
        self._fail(key, "expected epoch milliseconds or an ISO 8601 time")
        return None


def ticket_from_request(request: Any, loc: Loc = ("request",)) -> Ticket:
    """The Ticket in an SDP v3 request object; raises NormalizationError."""
    errors: list[FieldError] = []
    ticket = _read_ticket(request, loc, errors)
    if ticket is None:
        raise NormalizationError(errors)
    return ticket


def normalize_webhook(payload: Any, kind: EventKind | None = None) -> tuple[EventKind, Ticket]:
    """Our documented webhook body: {"request": {...}, "event": "created"|"updated"|"resolved"}.

    `kind` from the caller wins (the resolved-ticket endpoint passes "resolved"); then the
    body's "event"; then "created".
    """
    if not is_mapping(payload):
        raise NormalizationError([FieldError((), "expected a JSON object")])
    errors: list[FieldError] = []
    if kind is None:
        event = payload.get("event")
        if event is None:
            kind = "created"
        elif isinstance(event, str) and event in _KINDS:
            kind = _KINDS[event]
        else:
            errors.append(FieldError(("event",), f"must be one of {', '.join(_KINDS)}"))
    ticket = _read_ticket(payload.get("request"), ("request",), errors)
    if ticket is None or kind is None:
        raise NormalizationError(errors)
    return kind, ticket


def _read_ticket(request: Any, loc: Loc, errors: list[FieldError]) -> Ticket | None:
    if not is_mapping(request):
        errors.append(FieldError(loc, "required: the ServiceDesk Plus v3 request object"))
        return None
    read = _Reader(request, loc)
    ticket_id = read.identifier("id")
    subject = read.text("subject")
    description = read.html("description")
    if not (subject or "").strip() and not description:
        errors.append(FieldError((*loc, "subject"), "subject or description is required"))
    resolution = request.get("resolution")
    if is_mapping(resolution):
        inner = _Reader(resolution, (*loc, "resolution"))
        resolution_text = inner.html("content")
        errors.extend(inner.errors)
    else:
        resolution_text = read.html("resolution")
    fields: dict[str, Any] = {
        "priority": read.name("priority"),
        "status": read.name("status"),
        "category": read.name("category"),
        "requester": read.name("requester"),
        "requester_email": read.name("requester", "email_id"),
        "resolution": resolution_text or None,
        "created_at": read.timestamp("created_time"),
        "updated_at": read.timestamp("last_updated_time"),
        "resolved_at": read.timestamp("resolved_time"),
    }
    # Only the keys present: an absent one reads as None, which is neither an error nor kept.
    name, text = read.name, read.text
    extra: dict[str, Any] = {key: name(key) for key in _EXTRA_LOOKUPS if key in request}
    extra |= {key: text(key) for key in _EXTRA_TEXTS if key in request}
    udf_fields = request.get("udf_fields")
    if is_mapping(udf_fields) and udf_fields:
        extra["udf_fields"] = dict(udf_fields)
    errors.extend(read.errors)
    for key, value in extra.items():
        problem = unstorable(value)
        if problem is not None:
            errors.append(FieldError((*loc, key), problem))
    if errors or ticket_id is None:
        return None
    try:
        return Ticket(
            id=ticket_id,
            subject=clip((subject or "").strip(), _SUBJECT_LIMIT),
            description=clip(description or "", _DESCRIPTION_LIMIT),
            extra={key: value for key, value in extra.items() if value not in (None, "")},
            **fields,
        )
    except ValidationError as exc:
        errors.extend(FieldError((*loc, *e["loc"]), e["msg"]) for e in exc.errors())
        return None
