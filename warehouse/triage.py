"""Triage storage: each tenant's write-back policy, noise skips, suggestions, recent tickets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from warehouse.db import TenantConnection
from warehouse.tickets import TYPE_KEYS

FIELDS = ("category", "priority", "type")
DEFAULT_THRESHOLD = 0.8
_RECENT_LIMIT = 200
_RECENT_TEXT_CHARS = 2_000
# A recent ticket's text: its subject, a newline, the first _RECENT_TEXT_CHARS of its
# description.
_TEXT = (
    "coalesce(ticket ->> 'subject', '') || E'\\n' "
    "|| left(coalesce(ticket ->> 'description', ''), %(chars)s)"
)


@dataclass(frozen=True)
class TriageSettings:
    write_fields: bool = False
    threshold: float = DEFAULT_THRESHOLD
    fields: tuple[str, ...] = FIELDS


@dataclass(frozen=True)
class RecentRow:
    event_id: str
    ticket_id: str
    received_at: datetime
    signature: Any  # triage.signature as stored on arrival, if it was
    # Subject and description: read only for a row with no stored signature object.
    text: str | None


_TYPE = ", ".join(f"nullif(btrim(extra ->> '{key}'), '')" for key in TYPE_KEYS)
# One scan of the history for all three fields.
_VALUE_COUNTS = f"""
SELECT category, priority, type, GROUPING(category) = 0 AS by_category,
       GROUPING(priority) = 0 AS by_priority, count(*) AS n
FROM (SELECT nullif(btrim(category), '') AS category, nullif(btrim(priority), '') AS priority,
             coalesce({_TYPE}) AS type
      FROM ticket_history) AS h
GROUP BY GROUPING SETS ((category), (priority), (type))
"""


def value_counts(conn: TenantConnection) -> dict[str, dict[str, int]]:
    """Per triage field, how many of the tenant's history tickets have each value."""
    counts: dict[str, dict[str, int]] = {f: {} for f in FIELDS}
    for r in conn.execute(_VALUE_COUNTS).fetchall():
        field = "category" if r["by_category"] else "priority" if r["by_priority"] else "type"
        value = r[field]
        if value is not None:
            counts[field][value] = r["n"]
    return counts


def get_settings(conn: TenantConnection) -> TriageSettings:
    """The tenant's policy; the defaults (write nothing) when it never set one."""
    row = conn.execute("SELECT write_fields, threshold, fields FROM triage_settings").fetchone()
    if row is None:
        return TriageSettings()
    return TriageSettings(row["write_fields"], row["threshold"], tuple(row["fields"]))


def set_settings(
    conn: TenantConnection,
    *,
    write_fields: bool | None = None,
    threshold: float | None = None,
    fields: Sequence[str] | None = None,
) -> TriageSettings:
    """Changes what is given, keeps the rest; returns the policy now in force."""
    if threshold is not None and not 0 < threshold <= 1:
        raise ValueError(f"the threshold is a confidence above 0 and at most 1, not {threshold}")
    if fields is not None:
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown:
            raise ValueError(
                f"unknown triage field {', '.join(unknown)}: choose from {', '.join(FIELDS)}"
            )
    now = get_settings(conn)
    wanted = TriageSettings(
        now.write_fields if write_fields is None else write_fields,
        now.threshold if threshold is None else threshold,
        now.fields if fields is None else tuple(dict.fromkeys(fields)),
    )
    conn.execute(
        """
        INSERT INTO triage_settings (tenant_id, write_fields, threshold, fields)
        VALUES (current_setting('app.current_tenant_id', true), %s, %s, %s)
        ON CONFLICT (tenant_id) DO UPDATE SET
            write_fields = EXCLUDED.write_fields, threshold = EXCLUDED.threshold,
            fields = EXCLUDED.fields, updated_at = now()
        """,
        (wanted.write_fields, wanted.threshold, list(wanted.fields)),
    )
    return wanted


# A stored signature (flows.incidents.Signature.as_dict) that flows.incidents reads as one:
# an object whose hosts, errors and services are each an array of strings.
_WELL_FORMED = " AND ".join(
    f"jsonb_typeof(signature -> '{key}') = 'array' AND NOT jsonb_path_exists("
    f"signature -> '{key}', 'strict $[*] ? (@.type() != \"string\")', silent => true)"
    for key in ("hosts", "errors", "services")
)
# Shares a host, an error or a service with the given signature (`?|`: any of the strings
# is an element of the array).
_SHARES = " OR ".join(
    f"signature -> '{key}' ?| %({key})s::text[]" for key in ("hosts", "errors", "services")
)


def recent_tickets(
    conn: TenantConnection,
    before: datetime,
    window: timedelta,
    exclude_ticket: str,
    resembling: Mapping[str, Sequence[str]],
) -> list[RecentRow]:
    """Tickets opened for the tenant in `window` up to `before` that may resemble a ticket
    whose signature is `resembling` (its hosts, errors and services): of the newest
    _RECENT_LIMIT rows, one per ticket at its first receipt, newest first, the given ticket
    left out.

    A ticket whose stored signature is well formed and shares nothing with `resembling`
    is left out too: it cannot be part of an incident with it (flows.incidents compares
    only what two signatures share), and reading, decoding and comparing the up to 200
    such rows per event was a quarter of the flow's CPU per event. A row's text comes only
    with a row whose signature was not stored (an event that began as noise, say): the
    signature is all that is compared otherwise. `texts` reads it for others."""
    return [
        RecentRow(r["event_id"], r["ticket_id"], r["received_at"], r["signature"], r["text"])
        for r in conn.execute(
            f"""
            WITH newest AS (
                SELECT event_id, ticket_id, received_at, triage -> 'signature' AS signature,
                       CASE WHEN jsonb_typeof(triage -> 'signature') IS DISTINCT FROM 'object'
                            THEN {_TEXT} END AS text
                FROM enhancement_history
                WHERE received_at >= %(since)s AND received_at <= %(before)s
                  AND kind = 'created' AND ticket_id <> %(exclude)s
                  AND status IS DISTINCT FROM 'skipped'
                ORDER BY received_at DESC
                LIMIT %(limit)s
            ), first AS (
                SELECT DISTINCT ON (ticket_id) * FROM newest ORDER BY ticket_id, received_at
            )
            SELECT * FROM first
            WHERE ({_SHARES}) IS TRUE OR ({_WELL_FORMED}) IS NOT TRUE
            ORDER BY received_at DESC
            """,
            {
                "chars": _RECENT_TEXT_CHARS,
                "since": before - window,
                "before": before,
                "exclude": exclude_ticket,
                "limit": _RECENT_LIMIT,
                "hosts": list(resembling.get("hosts", ())),
                "errors": list(resembling.get("errors", ())),
                "services": list(resembling.get("services", ())),
            },
        ).fetchall()
    ]


def texts(conn: TenantConnection, event_ids: Sequence[str]) -> dict[str, str]:
    """Subject and description of these events' tickets, as recent_tickets gives them."""
    rows = conn.execute(
        f"SELECT event_id, {_TEXT} AS text FROM enhancement_history WHERE event_id = ANY(%(ids)s)",
        {"ids": list(event_ids), "chars": _RECENT_TEXT_CHARS},
    ).fetchall()
    return {r["event_id"]: r["text"] for r in rows}


def record_skipped(
    conn: TenantConnection,
    event_id: str,
    reason: str,
    context: dict[str, Any],
    timings: dict[str, float],
) -> None:
    """Noise: no note, the reason kept (status skipped)."""
    conn.execute(
        """
        UPDATE enhancement_history SET status = 'skipped', skip_reason = %s, context = %s,
            timings = %s, error = NULL, error_kind = NULL, finished_at = now(),
            updated_at = now()
        WHERE event_id = %s
        """,
        (reason, Jsonb(context), Jsonb(timings), event_id),
    )


def record_signature(conn: TenantConnection, event_id: str, signature: dict[str, Any]) -> None:
    """Kept from the start, so tickets arriving meanwhile compare with it without
    recomputing it."""
    conn.execute(
        "UPDATE enhancement_history SET triage = coalesce(triage, '{}') || %s WHERE event_id = %s",
        (Jsonb({"signature": signature}), event_id),
    )


def skipped_counts(conn: TenantConnection, since: datetime) -> dict[str, int]:
    """Events skipped as noise since `since`, by reason."""
    rows = conn.execute(
        "SELECT skip_reason, count(*) AS n FROM enhancement_history "
        "WHERE status = 'skipped' AND created_at >= %s GROUP BY skip_reason",
        (since,),
    ).fetchall()
    return {r["skip_reason"] or "unknown": r["n"] for r in rows}
