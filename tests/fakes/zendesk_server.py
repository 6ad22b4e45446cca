"""A Zendesk Support-shaped HTTP server on loopback, for driving our real client.

It follows the documented formats: API token basic auth (`{email}/token:{token}`);
`GET /api/v2/users/me.json` (the anonymous user when no credentials are sent, 401 for wrong
ones); `GET /api/v2/tickets/{id}.json`; `PUT /api/v2/tickets/{id}.json` with
`{"ticket": {"comment": {"body" | "html_body", "public"}}}` (a comment is public unless
`"public": false`), answered with the ticket and the update's audit, whose Comment event
carries the comment id; `GET /api/v2/tickets/{id}/comments.json` with cursor pagination
(`page[size]`, `page[after]` -> `meta.has_more`, `meta.after_cursor`); errors as
`{"error": ..., "description": ...}`; rate-limit headers `ratelimit-limit`,
`ratelimit-remaining`, `ratelimit-reset` and `X-Rate-Limit(-Remaining)` on every answer.

    with ZendeskServer(email="a@acme.example", token="t") as zendesk:
        zendesk.add_ticket({"id": 35436, "subject": "VPN down", ...})
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, unquote

from tests.fakes.vendor_server import Received, Reply, StoredButDropped, VendorServer

_ME = "/api/v2/users/me.json"
_TICKET = re.compile(r"^/api/v2/tickets/([^/]+)\.json$")
_COMMENTS = re.compile(r"^/api/v2/tickets/([^/]+)/comments\.json$")
_TAGS = re.compile(r"<[^>]+>")


def _error(error: str, description: str) -> dict[str, Any]:
    return {"error": error, "description": description}


class ZendeskServer(VendorServer):
    def __init__(self, email: str = "agent@acme.example", token: str = "zd-test-token") -> None:
        super().__init__()
        self.email = email
        self.token = token
        self.role = "agent"
        self.comment_delay_seconds = 0.0
        self.crash_after_post = False
        self.rate_limit = 700
        self.calls_left = 700  # what ratelimit-remaining says; it counts down per request
        self.reset_seconds = 60
        self._tickets: dict[str, dict[str, Any]] = {}
        self._comments: dict[str, list[dict[str, Any]]] = {}
        self._comment_posts = 0
        self._ids = itertools.count(9_000_000_001)

    # Test hooks ---------------------------------------------------------------------------

    def add_ticket(self, ticket: dict[str, Any]) -> None:
        with self._lock:
            self._tickets[str(ticket["id"])] = copy.deepcopy(ticket)
            self._comments.setdefault(str(ticket["id"]), [])

    def comments(self, ticket_id: str) -> list[dict[str, Any]]:
        """Every comment on the ticket: `html_body`, `plain_body`, `public`."""
        with self._lock:
            return copy.deepcopy(self._comments.get(str(ticket_id), []))

    @property
    def comment_posts(self) -> int:
        with self._lock:
            return self._comment_posts

    # Behaviour ----------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return _error("SimulatedFailure", message)

    def _who(self, headers: dict[str, str]) -> str:
        """'agent', 'anonymous' (no credentials) or 'refused'."""
        given = headers.get("authorization")
        if given is None:
            return "anonymous"
        pair = base64.b64encode(f"{self.email}/token:{self.token}".encode()).decode()
        return "agent" if given == f"Basic {pair}" else "refused"

    def _limits(self) -> dict[str, str]:
        with self._lock:
            self.calls_left = max(self.calls_left - 1, 0)
            left = self.calls_left
        return {
            "ratelimit-limit": str(self.rate_limit),
            "ratelimit-remaining": str(left),
            "ratelimit-reset": str(self.reset_seconds),
            "X-Rate-Limit": str(self.rate_limit),
            "X-Rate-Limit-Remaining": str(left),
        }

    def route(self, request: Received) -> Reply:
        status, body, headers = self._route(request)
        return status, body, {**self._limits(), **headers}

    def _route(self, request: Received) -> Reply:
        who = self._who(request.headers)
        if who == "refused":
            return 401, {"error": "Couldn't authenticate you"}, {}
        method, path = request.method, request.path
        if method == "GET" and path == _ME:
            if who == "anonymous":
                anonymous = {"id": None, "name": "Anonymous user", "role": "end-user"}
                return 200, {"user": anonymous}, {}
            user = {"id": 7001, "name": "AI Ops", "email": self.email, "role": self.role}
            return 200, {"user": user}, {}
        if who == "anonymous":
            return 401, {"error": "Couldn't authenticate you"}, {}
        if method == "GET" and (match := _TICKET.match(path)):
            return self._get_ticket(unquote(match[1]))
        if method == "PUT" and (match := _TICKET.match(path)):
            return self._update_ticket(unquote(match[1]), request.body)
        if method == "GET" and (match := _COMMENTS.match(path)):
            return self._list_comments(unquote(match[1]), request.query)
        return 404, _error("InvalidEndpoint", "Not found"), {}

    def _get_ticket(self, ticket_id: str) -> Reply:
        with self._lock:
            ticket = copy.deepcopy(self._tickets.get(ticket_id))
        if ticket is None:
            return 404, _error("RecordNotFound", "Not found"), {}
        return 200, {"ticket": ticket}, {}

    def _list_comments(self, ticket_id: str, query: str) -> Reply:
        params = parse_qs(query)
        try:
            size = min(max(int(params.get("page[size]", ["100"])[0]), 1), 100)
            after = int(params.get("page[after]", ["0"])[0])
        except ValueError:
            return 400, _error("InvalidPaginationParameter", "bad page[size] or page[after]"), {}
        with self._lock:
            if ticket_id not in self._tickets:
                return 404, _error("RecordNotFound", "Not found"), {}
            every = copy.deepcopy(self._comments[ticket_id])
        page = every[after : after + size]
        has_more = after + size < len(every)
        body = {
            "comments": page,
            "meta": {
                "has_more": has_more,
                "after_cursor": str(after + size) if has_more else None,
                "before_cursor": str(after) if after else None,
            },
            "links": {"prev": None, "next": None},
        }
        return 200, body, {}

    def _update_ticket(self, ticket_id: str, raw_body: bytes) -> Reply:
        try:
            given = json.loads(raw_body)
            comment_in = given["ticket"]["comment"]
        except (ValueError, KeyError, TypeError):
            return 400, _error("InvalidParameter", 'expected {"ticket": {"comment": ...}}'), {}
        html = comment_in.get("html_body") if isinstance(comment_in, dict) else None
        plain = comment_in.get("body") if isinstance(comment_in, dict) else None
        with self._lock:
            failure = self.take_failure()
            if failure is not None:
                return failure
            ticket = self._tickets.get(ticket_id)
            if ticket is None:
                return 404, _error("RecordNotFound", "Not found"), {}
            if ticket.get("status") == "closed":
                details = {"status": [{"description": "Status: closed prevents ticket update"}]}
                return (
                    422,
                    {**_error("RecordInvalid", "Record validation errors"), "details": details},
                    {},
                )
            text = html or plain
            if not isinstance(text, str) or not text.strip():
                return 422, _error("RecordInvalid", "Comment: body cannot be blank"), {}
            comment = {
                "id": next(self._ids),
                "type": "Comment",
                "author_id": 7001,
                "body": _TAGS.sub("", text),
                "html_body": text if html else f"<p>{text}</p>",
                "plain_body": _TAGS.sub("", text),
                # Zendesk's default: a comment is public unless told otherwise.
                "public": comment_in.get("public", True) is not False,
                "attachments": [],
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            self._comments[ticket_id].append(comment)
            self._comment_posts += 1
            audit = {
                "id": next(self._ids),
                "ticket_id": int(ticket_id) if ticket_id.isdigit() else ticket_id,
                "author_id": 7001,
                "events": [comment],
            }
            answer = {"ticket": copy.deepcopy(ticket), "audit": copy.deepcopy(audit)}
        if self.crash_after_post:
            raise StoredButDropped("stand-in crashed after storing the comment")
        # Stored first, answered late: a client that times out cannot know it succeeded.
        if self.comment_delay_seconds:
            time.sleep(self.comment_delay_seconds)
        return 200, answer, {}
