"""Zendesk Support REST client: fetch a ticket, find and add private comments.

A note is a private comment: `PUT /api/v2/tickets/{id}.json` with
`{"ticket": {"comment": {"html_body": ..., "public": false}}}`; the id we record is that
comment's, from the answer's audit. Public comments are what the requester sees and are
never made. Comments are listed with cursor pagination (`page[size]`, `page[after]`).
Authentication is an API token: basic auth with `{email}/token:{token}`.
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
from itsm.html_text import html_to_text
from itsm.http import ItsmHttp, RateLimitHeaders, RetryPolicy, Vendor
from itsm.zendesk.normalize import ticket_from_api

_PAGE_SIZE = 100
_MAX_COMMENT_PAGES = 20
# Zendesk's documented headers: the newer `ratelimit-*` pair, and the older count.
RATE_LIMIT = RateLimitHeaders(
    remaining=("ratelimit-remaining", "x-rate-limit-remaining"), reset=("ratelimit-reset",)
)


def _zendesk_message(payload: Any) -> str:
    """`{"error": "RecordNotFound", "description": ...}` or `{"error": {"title", "message"}}`."""
    if not isinstance(payload, Mapping):
        return "no Zendesk error body"
    error = payload.get("error")
    parts: list[str] = []
    if isinstance(error, Mapping):
        parts += [str(error[k]) for k in ("title", "message") if error.get(k)]
    elif isinstance(error, str):
        parts.append(error)
    if isinstance(payload.get("description"), str):
        parts.append(payload["description"])
    details = payload.get("details")
    if isinstance(details, Mapping):
        parts += [f"{k}: {v}" for k, v in details.items()]
    return "; ".join(parts) or "no error message"


def _refusal(status: int, where: str, message: str) -> str:
    if status == 401:
        return (
            f"Zendesk refused the credentials (401) for {where}: {message}; check the agent's "
            "e-mail and the API token (Admin Center > Apps and integrations > Zendesk API)"
        )
    if status == 403:
        return (
            f"Zendesk denied {where} (403): {message}; the token's user must be an agent "
            "allowed to edit the ticket and add private comments"
        )
    if status == 404:
        return f"Zendesk found nothing at {where} (404): {message}; check the ticket id"
    if status == 422:
        return f"Zendesk refused {where} (422): {message}; the ticket may be closed"
    return f"Zendesk answered {status} to {where}: {message}"


VENDOR = Vendor(
    "Zendesk",
    error_message=_zendesk_message,
    refusal=_refusal,
    not_json_hint="check the Zendesk URL (e.g. https://acme.zendesk.com)",
    rate_limit=RATE_LIMIT,
)


def _comment_text(comment: Mapping[str, Any]) -> str:
    body = comment.get("html_body") or comment.get("body") or comment.get("plain_body")
    return body if isinstance(body, str) else ""


class ZendeskClient:
    """One tenant's Zendesk. Transient failures are retried here; what is left surfaces as
    TransientError or PermanentError. Messages never carry the token."""

    def __init__(
        self, connection: ItsmConnection, http: httpx.Client, retry: RetryPolicy | None = None
    ) -> None:
        if not connection.username:
            raise PermanentError(
                "Zendesk API tokens go with the agent's e-mail; set it (aiops tenants create "
                "... --zendesk-email)"
            )
        pair = f"{connection.username}/token:{connection.api_key}".encode()
        self._api = ItsmHttp(
            VENDOR,
            connection.base_url,
            {
                "Accept": "application/json",
                "Authorization": "Basic " + base64.b64encode(pair).decode(),
            },
            http,
            timeout_seconds=connection.timeout_seconds,
            retry=retry,
        )

    def check_credentials(self) -> None:
        """`GET /api/v2/users/me.json`; Zendesk answers it even unauthenticated (as the
        anonymous user), so the user must come back as an agent or admin."""
        user = self._api.call("GET", "/api/v2/users/me.json").get("user")
        role = user.get("role") if isinstance(user, Mapping) else None
        if not isinstance(user, Mapping) or user.get("id") is None:
            raise PermanentError(
                "Zendesk refused the credentials (401): they sign in no one; check the "
                "agent's e-mail and the API token"
            )
        if role not in ("agent", "admin"):
            raise PermanentError(
                f"Zendesk denied the credentials (403): the user is an {role}, not an agent; "
                "private comments need an agent's token"
            )

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        payload = self._api.call("GET", f"{self._ticket_path(ticket_id)}.json")
        try:
            return ticket_from_api(payload.get("ticket"))
        except NormalizationError as exc:
            raise PermanentError(f"Zendesk ticket {ticket_id} is unreadable: {exc}") from exc

    def find_note(self, ticket_id: str, marker: str) -> str | None:
        return self._find_comment(
            ticket_id,
            lambda body: marker in body or marker in html_to_text(body),
            self._api.call,
        )

    def add_note(self, ticket_id: str, body_html: str) -> str:
        """Adds a private comment; returns its id. After a failure that may have landed, a
        private comment with the same text is looked for before posting again."""
        wanted = html_to_text(body_html)
        update = {"ticket": {"comment": {"html_body": body_html, "public": False}}}

        def post() -> str:
            payload = self._api.send("PUT", f"{self._ticket_path(ticket_id)}.json", json=update)
            comment_id = _audit_comment_id(payload)
            if comment_id is None:
                raise PermanentError(f"Zendesk gave no comment id for ticket {ticket_id}")
            return comment_id

        return self._api.post_once(
            post,
            lambda: self._find_comment(
                ticket_id, lambda body: html_to_text(body) == wanted, self._api.send
            ),
        )

    def _find_comment(
        self,
        ticket_id: str,
        matches: Callable[[str], bool],
        call: Callable[..., Mapping[str, Any]],
    ) -> str | None:
        """Private comments only: a requester's public reply cannot pass for our note."""
        path = f"{self._ticket_path(ticket_id)}/comments.json"
        params: dict[str, str | int] = {"page[size]": _PAGE_SIZE}
        for _ in range(_MAX_COMMENT_PAGES):
            page = call("GET", path, params=params)
            comments = page.get("comments")
            for comment in comments if isinstance(comments, list) else []:
                if not isinstance(comment, Mapping) or comment.get("public") is not False:
                    continue
                comment_id = json_id(comment.get("id"))
                if comment_id is not None and matches(_comment_text(comment)):
                    return comment_id
            meta = page.get("meta")
            cursor = meta.get("after_cursor") if isinstance(meta, Mapping) else None
            if not (isinstance(meta, Mapping) and meta.get("has_more") is True and cursor):
                return None
            params = {"page[size]": _PAGE_SIZE, "page[after]": str(cursor)}
        return None

    def _ticket_path(self, ticket_id: str) -> str:
        if not ticket_id:
            raise PermanentError("a Zendesk ticket id is required")
        return f"/api/v2/tickets/{quote(ticket_id, safe='')}"


def _audit_comment_id(payload: Mapping[str, Any]) -> str | None:
    """The id of the Comment event in the update's audit."""
    audit = payload.get("audit")
    events = audit.get("events") if isinstance(audit, Mapping) else None
    for event in events if isinstance(events, list) else []:
        if isinstance(event, Mapping) and event.get("type") == "Comment":
            return json_id(event.get("id"))
    return None
