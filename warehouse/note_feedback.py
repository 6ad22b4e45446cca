"""Technicians' ratings of notes (note_feedback), each tied to its event and agent version."""

from __future__ import annotations

from psycopg.rows import DictRow

from aiops.feedback_token import NoteRef
from warehouse.db import Database, TenantConnection

_COLUMNS = (
    "id AS feedback_id, event_id, agent_id, agent_version, helpful, comment, technician, via, "
    "created_at"
)


def add(
    conn: TenantConnection, event_id: str, helpful: bool, comment: str, technician: str, via: str
) -> DictRow | None:
    """None when the tenant has no such event."""
    return conn.execute(
        f"""
        INSERT INTO note_feedback (tenant_id, event_id, agent_id, agent_version, helpful,
            comment, technician, via)
        SELECT tenant_id, event_id, agent_id, agent_version, %s, %s, %s, %s
        FROM enhancement_history WHERE event_id = %s
        RETURNING {_COLUMNS}
        """,
        (helpful, comment, technician, via, event_id),
    ).fetchone()


def for_event(conn: TenantConnection, event_id: str) -> list[DictRow]:
    return conn.execute(
        f"SELECT {_COLUMNS} FROM note_feedback WHERE event_id = %s ORDER BY id", (event_id,)
    ).fetchall()


def ticket_of(db: Database, ref: NoteRef) -> str | None:
    """The ticket id of the note a link names, read in that tenant's own session."""
    with db.tenant(ref.tenant_id) as conn:
        row = conn.execute(
            "SELECT ticket_id FROM enhancement_history WHERE event_id = %s", (ref.event_id,)
        ).fetchone()
    return str(row["ticket_id"]) if row is not None else None


def add_by_link(db: Database, ref: NoteRef, helpful: bool, comment: str, technician: str) -> bool:
    with db.tenant(ref.tenant_id) as conn:
        return add(conn, ref.event_id, helpful, comment, technician, "link") is not None
