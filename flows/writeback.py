"""Posting the note to the ticket exactly once per event.

Every note carries a marker naming its event. Before posting: a note id recorded by an
earlier attempt is reused; else, when an earlier attempt may have posted, the ticket is
searched for the marker, which covers a crash between posting and recording (the flow
records the id in the event's finish transaction); only then is a note added. An event
whose history row was made by this attempt has no earlier attempt, so its first try skips
the search (one ITSM read saved per event on the hot path).

The note's text comes from a model that read the ticket, so it is untrusted: it is
HTML-escaped (tags, attributes and entities arrive as visible text), and anything in it
shaped like a marker is removed, so a ticket cannot make a note that passes for the note
of another event.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from aiops.tracing import current_span
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
    may_exist: bool,
    record: Callable[[str], None],
) -> str:
    """The id of this event's note on the ticket, posting it only if it is not there yet.
    `may_exist` False: no attempt before this one can have posted it, so it is not searched
    for."""
    if known_note_id is not None:
        return known_note_id
    if may_exist:
        found = _find(client, ticket_id, note_marker)
        if found is not None:
            record(found)
            return found
    with current_span("itsm add note", {"itsm.ticket_id": ticket_id}):
        note_id = client.add_note(ticket_id, body_html)
    record(note_id)
    return note_id


def _find(client: ItsmClient, ticket_id: str, note_marker: str) -> str | None:
    with current_span("itsm find note", {"itsm.ticket_id": ticket_id}):
        return client.find_note(ticket_id, note_marker)
