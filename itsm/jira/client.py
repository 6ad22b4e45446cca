"""Jira Service Management REST client: fetch an issue, find and add internal comments.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from aiops.errors import PermanentError
from aiops.events import Ticket
from itsm.base import ItsmConnection, NormalizationError
from itsm.html_text import html_to_text
from itsm.http import MESSAGE_LIMIT, ItsmHttp, RateLimitHeaders, RetryPolicy, Vendor
from itsm.jira.normalize import ticket_from_issue
from itsm.jira.text import escape_wiki, unescape_wiki

_PAGE_SIZE = 100
_MAX_COMMENT_PAGES = 20


@dataclass(frozen=True)
class Flavor:
    name: str
    issue_api: str  # where an issue is read


FLAVORS: dict[str, Flavor] = {
    "cloud": Flavor("cloud", "/rest/api/3/issue"),
    "datacenter": Flavor("datacenter", "/rest/api/2/issue"),
}


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
    return ("; ".join(messages) or "no error message")[:MESSAGE_LIMIT]


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


def _refusal(cloud: bool) -> Callable[[int, str, str], str]:
    """What an operator should do about a 4xx."""

    def refusal(status: int, where: str, message: str) -> str:
        if status == 401:
            what = "the account e-mail and API token" if cloud else "the personal access token"
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

    return refusal


# Jira Cloud's documented rate-limit headers; Data Center sends none (its 429 still counts).
RATE_LIMIT = RateLimitHeaders(remaining=("x-ratelimit-remaining",), reset=("x-ratelimit-reset",))


class JiraClient:
    """One tenant's Jira Service Management. Transient failures are retried here (backoff
    + jitter); what is left surfaces as TransientError or PermanentError. Messages never
    carry the token."""

    def __init__(
        self,
        connection: ItsmConnection,
        http: httpx.Client,
        retry: RetryPolicy | None = None,
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
        if flavor.name == "cloud":
            pair = f"{connection.username}:{connection.api_key}".encode()
            authorization = "Basic " + base64.b64encode(pair).decode()
        else:
            authorization = f"Bearer {connection.api_key}"
        vendor = Vendor(
            "Jira",
            error_message=_jira_message,
            refusal=_refusal(flavor.name == "cloud"),
            not_json_hint="check the base URL (e.g. https://acme.atlassian.net, or the Data "
            "Center base URL)",
            rate_limit=RATE_LIMIT,
        )
        self._api = ItsmHttp(
            vendor,
            connection.base_url,
            {"Accept": "application/json", "Authorization": authorization},
            http,
            timeout_seconds=connection.timeout_seconds,
            retry=retry,
        )

    def check_credentials(self) -> None:
        """`GET /rest/api/{3,2}/myself`: the cheapest authenticated read Jira documents."""
        self._api.call("GET", self._flavor.issue_api.removesuffix("/issue") + "/myself")

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        payload = self._api.call("GET", f"{self._flavor.issue_api}/{self._key(ticket_id)}")
        try:
            return ticket_from_issue(payload, ())
        except NormalizationError as exc:
            raise PermanentError(f"Jira issue {ticket_id} is unreadable: {exc}") from exc

    def find_note(self, ticket_id: str, marker: str) -> str | None:
        return self._find_comment(
            ticket_id,
            lambda body: marker in body or marker in comment_plain_text(body),
            self._api.call,
        )

    def add_note(self, ticket_id: str, body_html: str) -> str:
        """Posts an internal comment; returns its id.

        A retry after a failure that may have taken effect (timeout, reset, 5xx) first looks
        for an internal comment with the same text, so a slow Jira never gets it twice.
        """
        body = render_comment(body_html)
        path = self._comments_path(ticket_id)

        def post() -> str:
            payload = self._api.send("POST", path, json={"body": body, "public": False})
            comment_id = _comment_id(payload)
            if comment_id is None:
                raise PermanentError(f"Jira gave no comment id for request {ticket_id}")
            return comment_id

        return self._api.post_once(
            post, lambda: self._find_comment(ticket_id, lambda found: found == body, self._api.send)
        )

    def _find_comment(
        self,
        ticket_id: str,
        matches: Callable[[str], bool],
        call: Callable[..., Mapping[str, Any]],
    ) -> str | None:
        """Internal comments only: a customer's public comment cannot pass for our note."""
        path = self._comments_path(ticket_id)
        start = 0
        for _ in range(_MAX_COMMENT_PAGES):
            params = {"public": "false", "internal": "true", "start": start, "limit": _PAGE_SIZE}
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
