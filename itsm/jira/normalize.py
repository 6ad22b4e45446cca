"""Jira webhook bodies and issue objects to our Ticket: pure, no I/O.

Both Jira Cloud and Data Center send `{"webhookEvent": ..., "issue": {...}, "changelog":
{...}, "comment": {...}}`. Text fields arrive as wiki markup (webhooks, REST v2, Data
Center) or as Atlassian Document Format (Cloud REST v3); both become plain text.

What each delivery means:
- `jira:issue_created` -> created (enhance it);
- `jira:issue_updated` whose changelog sets a resolution, or moves the issue into a status
  of the "done" category -> resolved (into ticket history), with the resolution text taken
  from the comment that came with the transition or else the last human comment, never
  from the resolution field's name ("Done", "Fixed");
- everything else -> IgnoredEvent: comments (`comment_created`, and the legacy form
  `jira:issue_updated` with `issue_event_type_name: issue_commented`), our own note coming
  back, updates that resolve nothing, deletions.
A body with no `webhookEvent` but an issue (Automation for Jira's "Send web request" with
"Issue data") is a created event, or a resolved one when posted to the resolved route.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from aiops.events import EventKind, Ticket
from itsm.base import FieldError, IgnoredEvent, NormalizationError
from itsm.fields import clip, max_length, unstorable
from itsm.jira.text import rich_text

Loc = tuple[str | int, ...]

# Every note we post carries this (flows.writeback.marker); a comment holding it is ours.
OWN_NOTE_MARK = "AI Ops ref "
_COMMENT_EVENTS = frozenset({"issue_commented", "issue_comment_edited", "issue_comment_deleted"})


def _name(value: Any, attribute: str = "name") -> str | None:
    if isinstance(value, Mapping):
        inner = value.get(attribute)
        return inner if isinstance(inner, str) and inner else None
    return value if isinstance(value, str) and value else None


def _timestamp(value: Any, loc: Loc, errors: list[FieldError]) -> datetime | None:
    """Jira times: "2026-04-25T18:35:13.605+0530", or epoch milliseconds."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value / 1000, UTC)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    errors.append(FieldError(loc, "expected an ISO 8601 time or epoch milliseconds"))
    return None


def comment_text(comment: Any) -> str | None:
    """The plain text of a Jira comment object (body as wiki markup or ADF)."""
    if not isinstance(comment, Mapping):
        return None
    text = rich_text(comment.get("body"))
    return text or None


def is_own_note(text: str) -> bool:
    return OWN_NOTE_MARK in text


def _resolution_text(payload: Mapping[str, Any], fields: Mapping[str, Any]) -> str | None:
    """What fixed it: the transition's comment, else the last human comment on the issue."""
    candidates: list[Any] = [payload.get("comment")]
    listing = fields.get("comment")
    if isinstance(listing, Mapping) and isinstance(listing.get("comments"), list):
        candidates += reversed(listing["comments"])
    elif isinstance(listing, list):  # REST v3 example shape: the list itself
        candidates += reversed(listing)
    for comment in candidates:
        text = comment_text(comment)
        if text and not is_own_note(text):
            return text
    return None


def _changelog_items(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    changelog = payload.get("changelog")
    items = changelog.get("items") if isinstance(changelog, Mapping) else None
    return [item for item in items if isinstance(item, Mapping)] if isinstance(items, list) else []


def _status_category(fields: Mapping[str, Any]) -> str | None:
    status = fields.get("status")
    category = status.get("statusCategory") if isinstance(status, Mapping) else None
    return _name(category, "key")


def is_resolved(fields: Mapping[str, Any]) -> bool:
    return fields.get("resolution") not in (None, "", {}) or _status_category(fields) == "done"


def resolves(payload: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    """True if this update's changelog resolves the issue."""
    for item in _changelog_items(payload):
        field = str(item.get("fieldId") or item.get("field") or "").lower()
        if field == "resolution" and (item.get("to") or item.get("toString")):
            return True
        if field == "status" and _status_category(fields) == "done":
            return True
    return False


def _kind(
    payload: Mapping[str, Any], fields: Mapping[str, Any], forced: EventKind | None
) -> EventKind:
    event = payload.get("webhookEvent")
    type_name = payload.get("issue_event_type_name")
    if event is not None and not isinstance(event, str):
        raise NormalizationError([FieldError(("webhookEvent",), "expected a string")])
    if type_name in _COMMENT_EVENTS or (event or "").startswith("comment_"):
        raise IgnoredEvent(f"a comment ({type_name or event}) makes no note")
    if forced == "resolved":
        if event in (None, "jira:issue_updated") and is_resolved(fields):
            return "resolved"
        raise IgnoredEvent("the issue is not resolved")
    if event is None:
        return forced or "created"
    if event == "jira:issue_created":
        return "created"
    if event == "jira:issue_updated":
        if resolves(payload, fields):
            return "resolved"
        raise IgnoredEvent("an update that resolves nothing makes no note")
    raise IgnoredEvent(f"{event} makes no note")


def _extra(issue: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    project = fields.get("project")
    components = fields.get("components")
    extra: dict[str, Any] = {
        "issue_id": str(issue["id"]) if isinstance(issue.get("id"), str | int) else None,
        "project": _name(project, "key"),
        "project_type": _name(project, "projectTypeKey"),
        "issue_type": _name(fields.get("issuetype")),
        "status_category": _status_category(fields),
        "assignee": _name(fields.get("assignee"), "displayName"),
        # The resolution's name ("Done") says that it was resolved, not how: context only.
        "resolution_name": _name(fields.get("resolution")),
        "components": [c for c in map(_name, components) if c]
        if isinstance(components, list)
        else None,
    }
    return {key: value for key, value in extra.items() if value not in (None, "", [])}


def ticket_from_issue(
    issue: Any, loc: Loc = ("issue",), *, resolution: str | None = None
) -> Ticket:
    """The Ticket in a Jira issue object (REST v2 or v3, or a webhook's); raises
    NormalizationError."""
    errors: list[FieldError] = []
    if not isinstance(issue, Mapping):
        raise NormalizationError([FieldError(loc, "required: the Jira issue object")])
    key = issue.get("key") or issue.get("id")
    if isinstance(key, bool) or not isinstance(key, str | int) or not str(key).strip():
        errors.append(FieldError((*loc, "key"), "required: the issue key (e.g. HELP-12)"))
    fields = issue.get("fields")
    if not isinstance(fields, Mapping):
        errors.append(FieldError((*loc, "fields"), "required: the issue's fields"))
        raise NormalizationError(errors)
    floc = (*loc, "fields")
    summary = fields.get("summary")
    if summary is not None and not isinstance(summary, str):
        errors.append(FieldError((*floc, "summary"), "expected a string"))
        summary = None
    raw_description = fields.get("description")
    description = rich_text(raw_description)
    if raw_description is not None and description is None:
        errors.append(FieldError((*floc, "description"), "expected wiki markup or an ADF doc"))
    if not (summary or "").strip() and not description:
        errors.append(FieldError((*floc, "summary"), "summary or description is required"))
    labels = fields.get("labels")
    tags = [label for label in labels if isinstance(label, str)] if isinstance(labels, list) else []
    extra = _extra(issue, fields)
    problem = unstorable(extra)
    if problem is not None:
        errors.append(FieldError(floc, problem))
    times = {
        name: _timestamp(fields.get(source), (*floc, source), errors)
        for name, source in (
            ("created_at", "created"),
            ("updated_at", "updated"),
            ("resolved_at", "resolutiondate"),
        )
    }
    if errors:
        raise NormalizationError(errors)
    reporter = fields.get("reporter")
    try:
        return Ticket(
            id=str(key).strip(),
            subject=clip((summary or "").strip(), max_length("subject")),
            description=clip(description or "", max_length("description")),
            priority=_name(fields.get("priority")),
            status=_name(fields.get("status")),
            category=_name(fields.get("issuetype")),
            requester=_name(reporter, "displayName"),
            requester_email=_name(reporter, "emailAddress"),
            tags=tags,
            resolution=clip(resolution, max_length("description")) if resolution else None,
            extra=extra,
            **times,
        )
    except ValidationError as exc:
        raise NormalizationError(
            [FieldError((*loc, *e["loc"]), e["msg"]) for e in exc.errors()]
        ) from exc


def normalize_webhook(payload: Any, kind: EventKind | None = None) -> tuple[EventKind, Ticket]:
    """The kind and ticket of a Jira webhook body; raises NormalizationError or IgnoredEvent.

    `kind="resolved"` (the resolved-ticket route) accepts only an issue that is resolved.
    """
    if not isinstance(payload, Mapping):
        raise NormalizationError([FieldError((), "expected a JSON object")])
    issue = payload.get("issue")
    if issue is None and "fields" in payload and "webhookEvent" not in payload:
        issue = payload  # Automation's "Issue data": the issue itself
    fields = issue.get("fields") if isinstance(issue, Mapping) else None
    event_kind = _kind(payload, fields if isinstance(fields, Mapping) else {}, kind)
    resolution = None
    if event_kind == "resolved" and isinstance(fields, Mapping):
        resolution = _resolution_text(payload, fields)
    return event_kind, ticket_from_issue(issue, resolution=resolution)
