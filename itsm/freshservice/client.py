"""Freshservice REST v2 client: fetch a ticket, find and add private notes.

A note is `POST /api/v2/tickets/{id}/notes` with `{"body": <html>, "private": true}`: a
private note is for agents only (a public one e-mails the requester). Notes come back among
the ticket's conversations (`GET /api/v2/tickets/{id}/conversations`, `page`/`per_page`).
Authentication is the agent's API key as basic auth (`<key>:X`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from aiops.errors import PermanentError
from aiops.events import Ticket
from itsm.base import ItsmConnection, NormalizationError
from itsm.fields import json_id
from itsm.freshservice.normalize import ticket_from_api
from itsm.html_text import html_to_text
from itsm.http import ItsmHttp, RateLimitHeaders, RetryPolicy, Vendor

_PAGE_SIZE = 100  # Freshservice's largest per_page
_MAX_PAGES = 20
# Freshservice gives the calls left in the minute's window, no reset time.
RATE_LIMIT = RateLimitHeaders(remaining=("x-ratelimit-remaining",), window_seconds=60.0)


def _freshservice_message(payload: Any) -> str:
    """`{"code", "message"}`, or `{"description", "errors": [{"field", "message"}]}`."""
    if not isinstance(payload, Mapping):
        return "no Freshservice error body"
    parts = [str(payload[k]) for k in ("description", "message") if payload.get(k)]
    errors = payload.get("errors")
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, Mapping):
            parts.append(f"{error.get('field')}: {error.get('message')}")
    return "; ".join(parts) or "no error message"


def _refusal(status: int, where: str, message: str) -> str:
    if status == 401:
        return (
            f"Freshservice refused the credentials (401) for {where}: {message}; check the "
            "agent's API key (Profile settings > Your API Key)"
        )
    if status == 403:
        return (
            f"Freshservice denied {where} (403): {message}; the key's agent must be allowed "
            "to view the ticket and add private notes"
        )
    if status == 404:
        return f"Freshservice found nothing at {where} (404): {message}; check the ticket id"
    return f"Freshservice answered {status} to {where}: {message}"


VENDOR = Vendor(
    "Freshservice",
    error_message=_freshservice_message,
    refusal=_refusal,
    not_json_hint="check the Freshservice URL (e.g. https://acme.freshservice.com)",
    rate_limit=RATE_LIMIT,
)


class FreshserviceClient:
    """One tenant's Freshservice. Transient failures are retried here; what is left surfaces
    as TransientError or PermanentError. Messages never carry the key."""

    def __init__(
        self, connection: ItsmConnection, http: httpx.Client, retry: RetryPolicy | None = None
    ) -> None:
        pair = base64.b64encode(f"{connection.api_key}:X".encode()).decode()
        self._api = ItsmHttp(
            VENDOR,
            connection.base_url,
            {"Accept": "application/json", "Authorization": f"Basic {pair}"},
            http,
            timeout_seconds=connection.timeout_seconds,
            retry=retry,
        )

    def check_credentials(self) -> None:
        """One ticket of the list (`GET /api/v2/tickets?per_page=1`): cheap, and only an
        agent's key may read it."""
        self._api.call("GET", "/api/v2/tickets", params={"per_page": 1})

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        payload = self._api.call("GET", self._ticket_path(ticket_id))
        try:
            return ticket_from_api(payload.get("ticket"))
        except NormalizationError as exc:
            raise PermanentError(f"Freshservice ticket {ticket_id} is unreadable: {exc}") from exc

    def find_note(self, ticket_id: str, marker: str) -> str | None:
        return self._find_note(
            ticket_id, lambda body: marker in body or marker in html_to_text(body), self._api.call
        )

    def add_note(self, ticket_id: str, body_html: str) -> str:
        """Adds a private note; returns its id. After a failure that may have landed, a
        private note with the same text is looked for before posting again."""
        wanted = html_to_text(body_html)
        path = f"{self._ticket_path(ticket_id)}/notes"

        def post() -> str:
            payload = self._api.send("POST", path, json={"body": body_html, "private": True})
            note = payload.get("conversation")
            note_id = json_id(note.get("id")) if isinstance(note, Mapping) else None
            if note_id is None:
                raise PermanentError(f"Freshservice gave no note id for ticket {ticket_id}")
            return note_id

        return self._api.post_once(
            post,
            lambda: self._find_note(
                ticket_id, lambda body: html_to_text(body) == wanted, self._api.send
            ),
        )

    def _find_note(
        self,
        ticket_id: str,
        matches: Callable[[str], bool],
        call: Callable[..., Mapping[str, Any]],
    ) -> str | None:
        """Private notes only: a requester's reply cannot pass for our note."""
        path = f"{self._ticket_path(ticket_id)}/conversations"
        for page in range(1, _MAX_PAGES + 1):
            listing = call("GET", path, params={"page": page, "per_page": _PAGE_SIZE})
            found = listing.get("conversations")
            conversations = found if isinstance(found, list) else []
            for note in conversations:
                if not isinstance(note, Mapping) or note.get("private") is not True:
                    continue
                body = note.get("body")
                note_id = json_id(note.get("id"))
                if note_id is not None and isinstance(body, str) and matches(body):
                    return note_id
            if len(conversations) < _PAGE_SIZE:
                return None
        return None

    def _ticket_path(self, ticket_id: str) -> str:
        if not ticket_id:
            raise PermanentError("a Freshservice ticket id is required")
        return f"/api/v2/tickets/{quote(ticket_id, safe='')}"
