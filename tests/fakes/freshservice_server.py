"""A Freshservice REST v2-shaped HTTP server on loopback, for driving our real client.

It follows the documented formats: API key basic auth (`<key>:X`); `GET
/api/v2/tickets?per_page=` and `GET /api/v2/tickets/{id}` (`{"ticket": ...}`, priority 1-4,
status 2-5, HTML description); `POST /api/v2/tickets/{id}/notes` with `{"body": <html>,
"private": bool}` (private unless told otherwise, as Freshservice documents), answered 201
with `{"conversation": ...}`; `GET /api/v2/tickets/{id}/conversations` (`page`,
`per_page` up to 100, a `link` header while more pages follow); errors as `{"code",
"message"}` or `{"description", "errors": [...]}`; `X-RateLimit-Total`,
`X-RateLimit-Remaining` and `X-RateLimit-Used-CurrentRequest` on every answer.
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

_TICKETS = "/api/v2/tickets"
_TICKET = re.compile(r"^/api/v2/tickets/([^/]+)$")
_NOTES = re.compile(r"^/api/v2/tickets/([^/]+)/notes$")
_CONVERSATIONS = re.compile(r"^/api/v2/tickets/([^/]+)/conversations$")
_TAGS = re.compile(r"<[^>]+>")


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


class FreshserviceServer(VendorServer):
    def __init__(self, api_key: str = "fs-test-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.note_delay_seconds = 0.0
        self.crash_after_post = False
        self.rate_limit = 140
        self.calls_left = 140
        self._tickets: dict[str, dict[str, Any]] = {}
        self._conversations: dict[str, list[dict[str, Any]]] = {}
        self._note_posts = 0
        self._ids = itertools.count(27_000_000_001)

    # Test hooks ---------------------------------------------------------------------------

    def add_ticket(self, ticket: dict[str, Any]) -> None:
        with self._lock:
            self._tickets[str(ticket["id"])] = copy.deepcopy(ticket)
            self._conversations.setdefault(str(ticket["id"]), [])

    def conversations(self, ticket_id: str) -> list[dict[str, Any]]:
        """Every note and reply on the ticket: `body`, `private`."""
        with self._lock:
            return copy.deepcopy(self._conversations.get(str(ticket_id), []))

    @property
    def note_posts(self) -> int:
        with self._lock:
            return self._note_posts

    # Behaviour ----------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return _error("simulated_failure", message)

    def _limits(self) -> dict[str, str]:
        with self._lock:
            self.calls_left = max(self.calls_left - 1, 0)
            left = self.calls_left
        return {
            "X-RateLimit-Total": str(self.rate_limit),
            "X-RateLimit-Remaining": str(left),
            "X-RateLimit-Used-CurrentRequest": "1",
        }

    def route(self, request: Received) -> Reply:
        status, body, headers = self._route(request)
        return status, body, {**self._limits(), **headers}

    def _route(self, request: Received) -> Reply:
        pair = base64.b64encode(f"{self.api_key}:X".encode()).decode()
        if request.headers.get("authorization") != f"Basic {pair}":
            return (
                401,
                _error("invalid_credentials", "You have to be logged in to perform this action."),
                {},
            )
        method, path = request.method, request.path
        if method == "GET" and path == _TICKETS:
            with self._lock:
                listed = [copy.deepcopy(t) for t in list(self._tickets.values())[:1]]
            return 200, {"tickets": listed}, {}
        if method == "GET" and (match := _TICKET.match(path)):
            with self._lock:
                ticket = copy.deepcopy(self._tickets.get(unquote(match[1])))
            if ticket is None:
                return 404, _error("resource_not_found", "There is no ticket with that id."), {}
            return 200, {"ticket": ticket}, {}
        if method == "POST" and (match := _NOTES.match(path)):
            return self._post_note(unquote(match[1]), request.body)
        if method == "GET" and (match := _CONVERSATIONS.match(path)):
            return self._list(unquote(match[1]), request.query)
        return 404, _error("resource_not_found", "No such API endpoint."), {}

    def _list(self, ticket_id: str, query: str) -> Reply:
        params = parse_qs(query)
        try:
            page = max(int(params.get("page", ["1"])[0]), 1)
            per_page = min(max(int(params.get("per_page", ["30"])[0]), 1), 100)
        except ValueError:
            return (
                400,
                {
                    "description": "Validation failed",
                    "errors": [
                        {"field": "page", "message": "must be a number", "code": "invalid_value"}
                    ],
                },
                {},
            )
        with self._lock:
            if ticket_id not in self._tickets:
                return 404, _error("resource_not_found", "There is no ticket with that id."), {}
            every = copy.deepcopy(self._conversations[ticket_id])
        start = (page - 1) * per_page
        shown = every[start : start + per_page]
        headers = {}
        if start + per_page < len(every):
            following = f"{self.base_url}{_TICKETS}/{ticket_id}/conversations?page={page + 1}"
            headers["link"] = f'<{following}>; rel="next"'
        return 200, {"conversations": shown}, headers

    def _post_note(self, ticket_id: str, raw_body: bytes) -> Reply:
        try:
            given = json.loads(raw_body)
        except ValueError:
            return (
                400,
                {
                    "description": "Validation failed",
                    "errors": [
                        {"field": "body", "message": "invalid JSON", "code": "invalid_json"}
                    ],
                },
                {},
            )
        body = given.get("body") if isinstance(given, dict) else None
        with self._lock:
            failure = self.take_failure()
            if failure is not None:
                return failure
            if ticket_id not in self._tickets:
                return 404, _error("resource_not_found", "There is no ticket with that id."), {}
            if not isinstance(body, str) or not body.strip():
                return (
                    400,
                    {
                        "description": "Validation failed",
                        "errors": [
                            {
                                "field": "body",
                                "message": "It should be a/an String",
                                "code": "missing_field",
                            }
                        ],
                    },
                    {},
                )
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            note = {
                "id": next(self._ids),
                "body": body,
                "body_text": _TAGS.sub("", body),
                # Freshservice's default: a note is private unless told otherwise.
                "private": given.get("private", True) is not False,
                "incoming": False,
                "source": 2,
                "user_id": 14000000001,
                "ticket_id": int(ticket_id) if ticket_id.isdigit() else ticket_id,
                "created_at": now,
                "updated_at": now,
            }
            self._conversations[ticket_id].append(note)
            self._note_posts += 1
            answer = {"conversation": copy.deepcopy(note)}
        if self.crash_after_post:
            raise StoredButDropped("stand-in crashed after storing the note")
        # Stored first, answered late: a client that times out cannot know it succeeded.
        if self.note_delay_seconds:
            time.sleep(self.note_delay_seconds)
        return 201, answer, {}
