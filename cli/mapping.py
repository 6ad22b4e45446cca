"""Which column means what, and rows turned into tickets, KB articles and hosts.

Exports name their columns differently (Jira: "Issue id", "Summary"; ServiceDesk Plus:
"Request ID", "Subject"; ServiceNow: "number", "short_description"). Names are compared
with case, spaces and punctuation removed, against aliases in order of preference.

A Zendesk export (Views > Export as CSV) names the resolution time "Solved at" and
separates tags by spaces; it carries no description or comments, so its tickets come
without resolution text. A Freshservice export ("Ticket ID", "Resolution Notes") needs
nothing special.

A Jira CSV export is read as it comes: "Issue key" is the ticket id (as in Jira's
webhooks), Description and Comment cells are wiki markup, each Comment cell is
"<date>;<author id>;<text>", and "Resolution" holds the resolution's name ("Done",
"Fixed"); where the issue has comments, the last one is what fixed it and becomes the
resolution text, the name being kept among the extra fields. In any export, a resolution
that is only a status word is kept the same way (aiops.resolution_words).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from aiops.events import Ticket
from aiops.resolution_words import is_status_word
from itsm.jira.text import wiki_to_text
from warehouse.knowledge import Article, Host


class MappingError(ValueError):
    """The file lacks a column we cannot do without."""


class RecordError(ValueError):
    """One row cannot be used; the caller adds where it is."""


def normalize(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True)
class Column:
    field: str
    aliases: tuple[str, ...]  # as written in help texts; compared normalized


@dataclass(frozen=True)
class Schema:
    what: str
    columns: tuple[Column, ...]
    required: tuple[str, ...]
    one_of: tuple[str, ...] = ()  # at least one of these must be present


@dataclass(frozen=True)
class ColumnMap:
    fields: dict[str, str]  # field -> the file's column name
    rest: tuple[str, ...]  # the file's other columns


TICKETS = Schema(
    what="ticket",
    columns=(
        Column(
            "id",
            (
                "id",
                "ticket_id",
                "issue key",
                "issue id",
                "key",
                "request id",
                "sys_id",  # ServiceNow: webhooks name a record by it, so history does too
                "number",
                "ticket #",  # ConnectWise PSA
                "incident id",
                "workorderid",
            ),
        ),
        Column(
            "subject",
            ("subject", "summary", "title", "short_description", "summary description"),
        ),
        Column("description", ("description", "body", "details", "detailed description")),
        Column(
            "resolution",
            (
                "resolution",
                "resolution notes",
                "resolution_text",
                "solution",
                "close_notes",
                "fix_notes",
            ),
        ),
        Column("category", ("category", "issue type", "ticket type", "type")),
        Column("comments", ("comment", "comments")),
        Column("priority", ("priority",)),
        Column("status", ("status", "state")),
        Column("tags", ("tags", "labels")),
        Column(
            "created_at",
            (
                *("created", "created_at", "created time", "created date", "opened_at"),
                *("created on", "sys_created_on", "date entered"),
            ),
        ),
        Column(
            "resolved_at",
            (
                "resolved",
                "resolved_at",
                "resolved time",
                "resolved date",
                "closed",
                "closed_at",
                "closed date",
                "completed time",
                "solved at",  # Zendesk
                "closed time",  # Freshservice, when it was closed without resolving
            ),
        ),
    ),
    required=("id",),
    one_of=("subject", "description"),
)

ARTICLES = Schema(
    what="KB article",
    columns=(
        Column("article_id", ("article_id", "id", "kb id", "article number", "solution id", "key")),
        Column("title", ("title", "subject", "name", "summary")),
        Column("body", ("body", "content", "text", "description", "solution", "article")),
        Column("url", ("url", "link")),
        Column("tags", ("tags", "keywords", "labels")),
    ),
    required=("article_id", "title"),
)

HOSTS = Schema(
    what="host",
    columns=(
        Column("hostname", ("hostname", "host", "host name", "computer name", "name", "fqdn")),
        Column("ip_address", ("ip_address", "ip", "ip address", "ipv4")),
        Column("kind", ("kind", "type", "asset type", "role", "product type")),
        Column("os", ("os", "operating system")),
        Column("location", ("location", "site")),
        Column("owner", ("owner", "user", "assigned to", "department")),
    ),
    required=("hostname",),
)


def resolve(schema: Schema, names: Sequence[str], file_name: str) -> ColumnMap:
    """Maps the schema's fields to the file's columns, or says which column is missing."""
    by_normal: dict[str, str] = {}
    for name in names:
        by_normal.setdefault(normalize(name), name)
    fields: dict[str, str] = {}
    for column in schema.columns:
        for alias in column.aliases:
            found = by_normal.get(normalize(alias))
            if found is not None and found not in fields.values():
                fields[column.field] = found
                break
    found_text = ", ".join(names) if names else "none"
    aliases = {c.field: c.aliases for c in schema.columns}
    for required in schema.required:
        if required not in fields:
            raise MappingError(
                f"{file_name} has no {schema.what} {required.replace('_', ' ')} column; name one "
                f"of: {', '.join(aliases[required])} (found: {found_text})"
            )
    if schema.one_of and not any(name in fields for name in schema.one_of):
        choices = ", ".join(a for name in schema.one_of for a in aliases[name])
        raise MappingError(
            f"{file_name} has no {schema.what} text; add a column named one of: {choices} "
            f"(found: {found_text})"
        )
    mapped = set(fields.values())
    return ColumnMap(fields, tuple(name for name in names if name not in mapped))


def text(value: Any) -> str | None:
    """A cell as text; empty cells are None, repeated columns are joined line by line."""
    if value is None:
        return None
    if isinstance(value, list):
        joined = "\n".join(t for t in (text(v) for v in value) if t)
        return joined or None
    result = str(value).strip()
    return result or None


def tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return [t for t in (text(v) for v in value) if t]
    raw = text(value)
    return [part.strip() for part in re.split(r"[,;]", raw) if part.strip()] if raw else []


_DATE_FORMATS = (
    "%d/%b/%y %H:%M",  # Jira CSV: 30/Sep/21 17:20
    "%d/%b/%y %I:%M %p",  # Jira CSV, 12-hour: 30/Sep/21 5:20 PM
    "%d/%b/%Y %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%b %d, %Y %I:%M %p",  # ServiceDesk Plus display value: Sep 30, 2021 05:20 PM
    "%d %b %Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
)
_EPOCH_MS_FROM = 100_000_000_000  # numbers above this are milliseconds, not seconds


def timestamp(value: Any) -> datetime | None:
    """A moment in time from ISO 8601, a common export format, or epoch (s or ms); UTC if naive."""
    raw = text(value)
    if raw is None:
        return None
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        number = float(raw)
        return datetime.fromtimestamp(number / 1000 if number >= _EPOCH_MS_FROM else number, tz=UTC)
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(raw, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        raise RecordError(
            f"cannot read {raw!r} as a date; use ISO 8601 (2024-03-14T10:22:00Z), "
            "dd/Mon/yy HH:MM, or epoch seconds/milliseconds"
        )
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _get(record: Mapping[str, Any], cmap: ColumnMap, field: str) -> Any:
    name = cmap.fields.get(field)
    return record.get(name) if name is not None else None


def _rest(record: Mapping[str, Any], cmap: ColumnMap) -> dict[str, Any]:
    return {name: record[name] for name in cmap.rest if text(record.get(name)) is not None}


def _dated(record: Mapping[str, Any], cmap: ColumnMap, field: str) -> datetime | None:
    try:
        return timestamp(_get(record, cmap, field))
    except RecordError as exc:
        raise RecordError(f"{cmap.fields[field]}: {exc}") from exc


_JIRA_IDS = frozenset({"issuekey", "issueid"})
# "05/Mar/24 12:55 PM;JIRAUSER10201;text": a Jira export's comment cell.
_JIRA_COMMENT = re.compile(r"^(\d{1,2}/[A-Za-z]{3}/\d{2,4} [^;]*);([^;]*);(.*)$", re.DOTALL)


def _is_jira(cmap: ColumnMap) -> bool:
    return normalize(cmap.fields["id"]) in _JIRA_IDS


def _comment_texts(value: Any, jira: bool) -> list[str]:
    cells = value if isinstance(value, list) else [value]
    found = []
    for cell in cells:
        raw = text(cell)
        if raw is None:
            continue
        if jira:
            match = _JIRA_COMMENT.match(raw)
            raw = wiki_to_text(match[3] if match else raw)
        if raw:
            found.append(raw)
    return found


def _texts(record: Mapping[str, Any], cmap: ColumnMap) -> tuple[str, str | None, dict[str, Any]]:
    """Description, resolution text and extra fields that the dialect adds."""
    jira = _is_jira(cmap)
    description = text(_get(record, cmap, "description")) or ""
    resolution = text(_get(record, cmap, "resolution"))
    comments = _comment_texts(_get(record, cmap, "comments"), jira)
    extra: dict[str, Any] = {}
    if jira:
        description = wiki_to_text(description)
    # A Jira export's Resolution column names how the issue ended ("Done"), and so does
    # any column holding only a status word ("Fixed", "Won't Fix"): kept as the name,
    # never as the fix. The last comment, if any, says what fixed it.
    if resolution is not None and ((jira and comments) or is_status_word(resolution)):
        extra["resolution_name"] = resolution
        resolution = None
    if resolution is None and comments:
        resolution = comments[-1]
    return description, resolution, extra


def _is_zendesk(cmap: ColumnMap) -> bool:
    """Zendesk's export names the resolution time "Solved at" and separates tags by spaces."""
    return normalize(cmap.fields.get("resolved_at", "")) == "solvedat"


def _tags(record: Mapping[str, Any], cmap: ColumnMap) -> list[str]:
    value = _get(record, cmap, "tags")
    if _is_zendesk(cmap) and isinstance(value, str):
        return value.split()
    return tags(value)


def to_ticket(record: Mapping[str, Any], cmap: ColumnMap) -> Ticket:
    ticket_id = text(_get(record, cmap, "id"))
    if ticket_id is None:
        raise RecordError(f"the ticket id ({cmap.fields['id']}) is empty")
    description, resolution, extra = _texts(record, cmap)
    try:
        return Ticket(
            id=ticket_id,
            subject=text(_get(record, cmap, "subject")) or "",
            description=description,
            resolution=resolution,
            category=text(_get(record, cmap, "category")),
            priority=text(_get(record, cmap, "priority")),
            status=text(_get(record, cmap, "status")),
            tags=_tags(record, cmap),
            created_at=_dated(record, cmap, "created_at"),
            resolved_at=_dated(record, cmap, "resolved_at"),
            extra=_rest(record, cmap) | extra,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise RecordError(f"ticket {ticket_id}: {first['loc'][0]}: {first['msg']}") from exc


def to_article(record: Mapping[str, Any], cmap: ColumnMap) -> Article:
    article_id = text(_get(record, cmap, "article_id"))
    title = text(_get(record, cmap, "title"))
    if article_id is None or title is None:
        raise RecordError("the article id and title must not be empty")
    return Article(
        article_id=article_id,
        title=title,
        body=text(_get(record, cmap, "body")) or "",
        url=text(_get(record, cmap, "url")),
        tags=tuple(tags(_get(record, cmap, "tags"))),
    )


def to_host(record: Mapping[str, Any], cmap: ColumnMap) -> Host:
    hostname = text(_get(record, cmap, "hostname"))
    if hostname is None:
        raise RecordError("the hostname must not be empty")
    ip = text(_get(record, cmap, "ip_address"))
    if ip is not None:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError as exc:
            raise RecordError(f"{ip!r} is not an IP address") from exc
    return Host(
        hostname=hostname,
        ip_address=ip,
        kind=text(_get(record, cmap, "kind")),
        os=text(_get(record, cmap, "os")),
        location=text(_get(record, cmap, "location")),
        owner=text(_get(record, cmap, "owner")),
        attributes=_rest(record, cmap),
    )
