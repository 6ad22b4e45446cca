"""ServiceNow records (incident, sc_req_item, problem, change_request) to our Ticket: pure.

A record arrives in one of the Table API's shapes: each field a plain string
(`sysparm_display_value=false`, the default), or an object with `value` and
`display_value` (`=all`, and our business rule's body), or a reference `{"link",
"value"}`. Names are read from `display_value` where there is one (a caller's name, not
its sys_id; "2 - High", not "2"); times from `value`, which the Table API gives in UTC as
"YYYY-MM-DD HH:MM:SS".

What each delivery means (the body our business rule sends, see itsm.servicenow.plugin):
- `"event": "created"` (after insert) -> created (enhance it);
- `"event": "resolved"`, or any record that is resolved or closed (inactive, or with
  `resolved_at` / `closed_at` set) -> resolved, into ticket history, with the text that
  fixed it from `close_notes` (problems: `fix_notes`), never the `close_code` name;
- `"event": "updated"` of a record that is still open -> IgnoredEvent: our own work note
  coming back, reassignments, comments.
A Table API record without "event" (`{"result": {...}}`, a scripted export) is created
unless it is resolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from aiops.events import EventKind, Ticket
from itsm.base import FieldError, IgnoredEvent, NormalizationError
from itsm.fields import clip, max_length, unstorable
from itsm.html_text import html_to_text

Loc = tuple[str | int, ...]

TABLES = ("incident", "sc_req_item", "problem", "change_request")
_KINDS: dict[str, EventKind] = {"created": "created", "updated": "updated", "resolved": "resolved"}
_SUBJECT_LIMIT = max_length("subject")
_DESCRIPTION_LIMIT = max_length("description")
# Kept for the prompt and the analytics; names, not sys_ids.
_EXTRA_NAMES = (
    "number",
    "sys_class_name",
    "assignment_group",
    "assigned_to",
    "cmdb_ci",
    "business_service",
    "subcategory",
    "impact",
    "urgency",
    "close_code",
    "contact_type",
    "company",
)
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


class _Reader:
    def __init__(self, record: Mapping[str, Any], loc: Loc) -> None:
        self.record = record
        self.loc = loc
        self.errors: list[FieldError] = []

    def _fail(self, key: str, msg: str) -> None:
        self.errors.append(FieldError((*self.loc, key), msg))

    def _part(self, key: str, part: str) -> str | None:
        value = self.record.get(key)
        if isinstance(value, Mapping):
            inner = value.get(part)
            if part == "display_value" and inner in (None, ""):
                inner = value.get("value")
            value = inner
        if value is None or isinstance(value, str):
            return value or None
        if isinstance(value, bool | int | float):
            return str(value)
        self._fail(key, "expected a string or an object with value / display_value")
        return None

    def name(self, key: str) -> str | None:
        return self._part(key, "display_value")

    def value(self, key: str) -> str | None:
        return self._part(key, "value")

    def text(self, key: str) -> str | None:
        raw = self.name(key)
        return html_to_text(raw) if raw else None

    def timestamp(self, key: str) -> datetime | None:
        raw = self.value(key)
        if raw is None:
            return None
        for pattern in _TIME_FORMATS:
            try:
                return datetime.strptime(raw, pattern).replace(tzinfo=UTC)
            except ValueError:
                continue
        try:
            parsed = datetime.fromisoformat(raw)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            self._fail(key, 'expected a ServiceNow time "YYYY-MM-DD HH:MM:SS" (UTC)')
            return None


def is_resolved(record: Mapping[str, Any]) -> bool:
    read = _Reader(record, ())
    active = read.value("active")
    # The Table API says "false"; GlideRecord.getValue in a script says "0".
    return (active or "").lower() in ("false", "0") or bool(
        read.value("resolved_at") or read.value("closed_at")
    )


def ticket_from_record(record: Any, loc: Loc = ("record",)) -> Ticket:
    """The Ticket in one ServiceNow record; raises NormalizationError."""
    errors: list[FieldError] = []
    ticket = _read_ticket(record, loc, errors)
    if ticket is None:
        raise NormalizationError(errors)
    return ticket


def _record_of(payload: Mapping[str, Any]) -> tuple[Any, Loc]:
    for key in ("record", "result"):
        if key in payload:
            return payload[key], (key,)
    return None, ("record",)


def normalize_webhook(payload: Any, kind: EventKind | None = None) -> tuple[EventKind, Ticket]:
    """`{"event": ..., "table": ..., "record": {...}}` or a Table API `{"result": {...}}`.

    `kind` from the caller wins (the resolved-ticket endpoint passes "resolved"); then the
    body's "event"; then the record's own state.
    """
    if not isinstance(payload, Mapping):
        raise NormalizationError([FieldError((), "expected a JSON object")])
    errors: list[FieldError] = []
    record, loc = _record_of(payload)
    claimed: EventKind | None = None
    event = payload.get("event")
    if event is not None:
        if isinstance(event, str) and event in _KINDS:
            claimed = _KINDS[event]
        else:
            errors.append(FieldError(("event",), f"must be one of {', '.join(_KINDS)}"))
    table = payload.get("table")
    if table is not None and not isinstance(table, str):
        errors.append(FieldError(("table",), "expected the record's table name"))
    ticket = _read_ticket(record, loc, errors)
    if ticket is None or errors:
        raise NormalizationError(errors)
    assert isinstance(record, Mapping)
    if kind is None:
        resolved = is_resolved(record)
        if claimed == "resolved" or resolved:
            kind = "resolved"
        elif claimed == "updated":
            raise IgnoredEvent("an update of an open record: nothing to enhance or store")
        else:
            kind = "created"
    return kind, ticket


def _read_ticket(record: Any, loc: Loc, errors: list[FieldError]) -> Ticket | None:
    if not isinstance(record, Mapping):
        errors.append(FieldError(loc, "required: the ServiceNow record (Table API fields)"))
        return None
    read = _Reader(record, loc)
    sys_id = read.value("sys_id")
    if not sys_id:
        errors.append(FieldError((*loc, "sys_id"), "required: the record's sys_id"))
    subject = read.text("short_description") or ""
    description = read.text("description") or ""
    if not subject.strip() and not description.strip():
        errors.append(
            FieldError((*loc, "short_description"), "short_description or description is required")
        )
    caller = "caller_id" if "caller_id" in record else "requested_for"
    resolution = read.text("close_notes") or read.text("fix_notes")
    fields: dict[str, Any] = {
        "priority": read.name("priority"),
        "status": read.name("state"),
        "category": read.name("category"),
        "requester": read.name(caller) or read.name("opened_by"),
        "resolution": resolution,
        "created_at": read.timestamp("sys_created_on") or read.timestamp("opened_at"),
        "updated_at": read.timestamp("sys_updated_on"),
        "resolved_at": read.timestamp("resolved_at") or read.timestamp("closed_at"),
    }
    extra: dict[str, Any] = {key: read.name(key) for key in _EXTRA_NAMES}
    errors.extend(read.errors)
    for key, value in extra.items():
        problem = unstorable(value)
        if problem is not None:
            errors.append(FieldError((*loc, key), problem))
    if errors or not sys_id:
        return None
    try:
        return Ticket(
            id=sys_id,
            subject=clip(subject.strip(), _SUBJECT_LIMIT),
            description=clip(description.strip(), _DESCRIPTION_LIMIT),
            extra={key: value for key, value in extra.items() if value not in (None, "")},
            **fields,
        )
    except ValidationError as exc:
        errors.extend(FieldError((*loc, *e["loc"]), e["msg"]) for e in exc.errors())
        return None
