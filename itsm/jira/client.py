"""Jira Service Management REST client: fetch an issue, find and add internal comments, set
its priority and issue type, read its last agent comment.

Internal notes go through the Service Management API, `POST
/rest/servicedeskapi/request/{key}/comment` with `"public": false`: a comment made through
`/rest/api/{2,3}/issue/{key}/comment` is visible to the customer on a service project.
That API takes the body as a string that Jira renders as wiki markup, so the note's text
is escaped to show as written. Issues are read from REST v3 on Cloud (ADF descriptions)
and v2 on Data Center (wiki markup).

Cloud authenticates with basic auth (account e-mail + API token); Data Center with a
personal access token as a bearer token.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from aiops.errors import PermanentError, TransientError
from aiops.events import Ticket
from aiops.retry import call_with_retries, parse_retry_after
from itsm.base import ItsmConnection, NormalizationError
from itsm.html_text import html_to_text
from itsm.jira.normalize import ticket_from_issue
from itsm.jira.text import escape_wiki, unescape_wiki

T = TypeVar("T")

_PAGE_SIZE = 100
_MAX_COMMENT_PAGES = 20
_MESSAGE_LIMIT = 300
# Our triage field names -> Jira's. The normalized ticket's category is the issue type
# (itsm.jira.normalize), so "category" is written there; Jira has no third such field.
_FIELD_NAMES = {"category": "issuetype", "priority": "priority"}
# Every note we post carries this marker (flows.writeback): it is never the fix.
_OUR_MARKER = "[AI Ops ref "


@dataclass(frozen=True)
class Flavor:
    name: str
    issue_api: str  # where an issue is read


FLAVORS: dict[str, Flavor] = {
    "cloud": Flavor("cloud", "/rest/api/3/issue"),
    "datacenter": Flavor("datacenter", "/rest/api/2/issue"),
}


class _MaybeApplied(TransientError):
    """Failed after the request was sent (read timeout, reset, 5xx): it may have taken effect."""


def _jira_message(payload: Any) -> str:
    """Jira's error text: `errorMessages`/`errors` (platform) or `errorMessage` (servicedeskapi)."""
    if not isinstance(payload, Mapping):
        return "no Jira error body"
    messages = [m for m in payload.get("errorMessages") or [] if isinstance(m, str)]
    errors = payload.get("errors")
    if isinstance(errors, Mapping):
        messages += [f"{k}: {v}" for k, v in errors.items() if isinstance(v, str)]
    single = payload.get("errorMessage")
    if isinstance(single, str):
        messages.append(single)
    return ("; ".join(messages) or "no error message")[:_MESSAGE_LIMIT]


def render_comment(body_html: str) -> str:
    """Our note (HTML) as a servicedeskapi comment body: plain text, wiki-escaped."""
    return escape_wiki(html_to_text(body_html))


def comment_plain_text(body: str) -> str:
    return unescape_wiki(body)


def _comment_id(comment: Any) -> str | None:
    if isinstance(comment, Mapping):
        value = comment.get("id")
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


class JiraClient:
    """One tenant's Jira Service Management. Transient failures are retried here (backoff
    + jitter); what is left surfaces as TransientError or PermanentError. Messages never
    carry the token."""

    def __init__(
        self,
        connection: ItsmConnection,
        http: httpx.Client,
        *,
        attempts: int = 3,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        flavor = FLAVORS.get(connection.flavor or "")
        if flavor is None:
            raise PermanentError(
                f"Jira flavor must be one of {', '.join(FLAVORS)}, not {connection.flavor!r}"
            )
        if flavor.name == "cloud" and not connection.username:
            raise PermanentError(
                "Jira Cloud needs the account e-mail with its API token; set the tenant's "
                "Jira e-mail (aiops tenants create ... --jira-email)"
            )
        self._flavor = flavor
        self._base_url = connection.base_url.rstrip("/")
        self._timeout = connection.timeout_seconds
        self._http = http
        if flavor.name == "cloud":
            pair = f"{connection.username}:{connection.api_key}".encode()
            authorization = "Basic " + base64.b64encode(pair).decode()
        else:
            authorization = f"Bearer {connection.api_key}"
        self._headers = {"Accept": "application/json", "Authorization": authorization}
        self._attempts = attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._sleep = sleep

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        payload = self._call("GET", f"{self._flavor.issue_api}/{self._key(ticket_id)}")
        try:
            return ticket_from_issue(payload, ())
        except NormalizationError as exc:
            raise PermanentError(f"Jira issue {ticket_id} is unreadable: {exc}") from exc

    def find_note(self, ticket_id: str, marker: str) -> str | None:
        return self._find_comment(
            ticket_id, lambda body: marker in body or marker in comment_plain_text(body), self._call
        )

    def add_note(self, ticket_id: str, body_html: str) -> str:
        """Posts an internal comment; returns its id.

        A retry after a failure that may have taken effect (timeout, reset, 5xx) first looks
        for an internal comment with the same text, so a slow Jira never gets it twice.
        """
        body = render_comment(body_html)
        path = self._comments_path(ticket_id)
        maybe_posted = False

        def attempt() -> str:
            nonlocal maybe_posted
            if maybe_posted:
                existing = self._find_comment(ticket_id, lambda found: found == body, self._send)
                if existing is not None:
                    return existing
            try:
                payload = self._send("POST", path, json={"body": body, "public": False})
            except _MaybeApplied:
                maybe_posted = True
                raise
            comment_id = _comment_id(payload)
            if comment_id is None:
                raise PermanentError(f"Jira gave no comment id for request {ticket_id}")
            return comment_id

        return self._retrying(attempt)

    writable_fields = tuple(_FIELD_NAMES)

    def set_fields(self, ticket_id: str, fields: Mapping[str, str]) -> None:
        """PUT the issue (REST v3 Cloud, v2 Data Center) with each field by name; the same
        values twice are the same edit, so a retry after a timeout is harmless."""
        unknown = sorted(set(fields) - set(_FIELD_NAMES))
        if unknown:
            raise PermanentError(f"Jira has no triage field {', '.join(unknown)}")
        body = {"fields": {_FIELD_NAMES[name]: {"name": value} for name, value in fields.items()}}
        self._call("PUT", f"{self._flavor.issue_api}/{self._key(ticket_id)}", json=body)

    def last_fix(self, ticket_id: str) -> str | None:
        """The text of the request's last comment (internal or public) that is not ours."""
        found: str | None = None

        def keep(body: str) -> bool:
            nonlocal found
            text = comment_plain_text(body).strip()
            if text and _OUR_MARKER not in text:
                found = text
            return False  # read every page: the last comment wins

        self._find_comment(ticket_id, keep, self._call, internal_only=False)
        return found

    def _find_comment(
        self,
        ticket_id: str,
        matches: Callable[[str], bool],
        call: Callable[..., Mapping[str, Any]],
        *,
        internal_only: bool = True,
    ) -> str | None:
        """Internal comments only, unless told: a customer's public comment cannot pass for
        our note."""
        path = self._comments_path(ticket_id)
        start = 0
        public = "false" if internal_only else "true"
        for _ in range(_MAX_COMMENT_PAGES):
            params = {"public": public, "internal": "true", "start": start, "limit": _PAGE_SIZE}
            page = call("GET", path, params=params)
            values = page.get("values")
            values = values if isinstance(values, list) else []
            for comment in values:
                comment_id = _comment_id(comment)
                body = comment.get("body") if isinstance(comment, Mapping) else None
                if comment_id is not None and isinstance(body, str) and matches(body):
                    return comment_id
            if page.get("isLastPage") is not False or not values:
                return None
            start += len(values)
        return None

    def _key(self, ticket_id: str) -> str:
        if not ticket_id:
            raise PermanentError("a Jira issue key is required")
        return quote(ticket_id, safe="")

    def _comments_path(self, ticket_id: str) -> str:
        return f"/rest/servicedeskapi/request/{self._key(ticket_id)}/comment"

    def _retrying(self, fn: Callable[[], T]) -> T:
        return call_with_retries(
            fn,
            attempts=self._attempts,
            base_delay=self._base_delay,
            max_delay=self._max_delay,
            sleep=self._sleep,
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> Mapping[str, Any]:
        return self._retrying(lambda: self._send(method, path, **kwargs))

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Mapping[str, Any] | None = None,
    ) -> Mapping[str, Any]:
        where = f"{method} {path}"
        try:
            response = self._http.request(
                method,
                self._base_url + path,
                params=params,
                json=json,
                headers=self._headers,
                timeout=self._timeout,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(f"Jira unreachable for {where}: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            failure = type(exc).__name__
            raise _MaybeApplied(f"Jira failed during {where}: {failure}") from exc

        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if status == 429:
            raise TransientError(f"Jira rate-limited {where} (429)", retry_after=retry_after)
        if status >= 500 or status == 408:
            raise _MaybeApplied(f"Jira answered {status} to {where}", retry_after=retry_after)
        if status == 204:  # an edit answers with no body
            return {}
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not 200 <= status < 300:
            raise PermanentError(self._refusal(status, where, _jira_message(payload)))
        if not isinstance(payload, Mapping):
            raise PermanentError(
                f"Jira answered {where} with something other than JSON; check the base URL "
                "(e.g. https://acme.atlassian.net, or the Data Center base URL)"
            )
        return payload

    def _refusal(self, status: int, where: str, message: str) -> str:
        """What an operator should do about a 4xx."""
        if status == 401:
            what = (
                "the account e-mail and API token"
                if self._flavor.name == "cloud"
                else "the personal access token"
            )
            return f"Jira refused the credentials (401) for {where}: {message}; check {what}"
        if status == 403:
            return (
                f"Jira denied {where} (403): {message}; the account must be an agent on the "
                "service project, allowed to browse it and add internal comments"
            )
        if status == 404:
            return (
                f"Jira found nothing at {where} (404): {message}; check the issue key, that "
                "its project is a Jira Service Management service project (internal comments "
                "exist only there), and that the account can see it"
            )
        return f"Jira answered {status} to {where}: {message}"
