"""Posting the note to the ticket exactly once per event.

Every note carries a marker naming its event. Before posting: a note id recorded by an
earlier attempt is reused; else the ticket is searched for the marker, which covers a
crash between posting and recording; only then is a note added, and its id recorded at
once.

The note's text comes from a model that read the ticket, so it is untrusted: it is
HTML-escaped (tags, attributes and entities arrive as visible text), and anything in it
shaped like a marker is removed, so a ticket cannot make a note that passes for the note
of another event.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from aiops.tracing import tracer
from itsm.base import ItsmClient

_MARKER_LIKE = re.compile(r"\[AI Ops ref [^\]]*\]", re.IGNORECASE)


def marker(event_id: str, repost: int | None = None) -> str:
    """Bracketed, so the marker of event "E1" is not found inside that of "E10"."""
    suffix = f" repost {repost}" if repost is not None else ""
    return f"[AI Ops ref {event_id}{suffix}]"


def render_note_html(text: str, note_marker: str, footer: str = "") -> str:
    """Plain text as HTML paragraphs, then `footer` (plain text, e.g. the rating link), with
    the marker last."""
    text = _MARKER_LIKE.sub("[AI Ops marker removed]", text)
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    body = "".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.strip().split("\n")) + "</p>"
        for p in paragraphs
    )
    small = f"<p><small>{html.escape(footer)}</small></p>" if footer else ""
    return f"{body}{small}<p><small>{html.escape(note_marker)}</small></p>"


def post_once(
    client: ItsmClient,
    ticket_id: str,
    body_html: str,
    note_marker: str,
    *,
    known_note_id: str | None,
    record: Callable[[str], None],
) -> str:
    """The id of this event's note on the ticket, posting it only if it is not there yet."""
    if known_note_id is not None:
        return known_note_id
    with tracer().start_as_current_span("itsm find note", attributes={"itsm.ticket_id": ticket_id}):
        found = client.find_note(ticket_id, note_marker)
    if found is not None:
        record(found)
        return found
    with tracer().start_as_current_span("itsm add note", attributes={"itsm.ticket_id": ticket_id}):
        note_id = client.add_note(ticket_id, body_html)
    record(note_id)
    return note_id
