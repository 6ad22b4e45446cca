"""A ServiceDesk Plus v3-shaped HTTP server on loopback, for driving our real client.

It follows the documented v3 formats: form-encoded `input_data=<json>`, the v3 Accept
header, on-premises `authtoken: <key>` or Cloud `Authorization: Zoho-oauthtoken <key>`, note
wrapper `note` (on-premises) or `request_note` (Cloud), list key `notes` / `request_notes`,
and `response_status` bodies (an object for one record, a list for lists). On-premises note
lists leave out the note body, as its "Get List Request Note" attributes suggest.

    with SdpServer(flavor="cloud", api_key="k") as sdp:
        sdp.add_request({"id": "1", "subject": "VPN down"})
        ... sdp.base_url ...
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, unquote

from tests.fakes.vendor_server import Received, Reply, VendorServer

ACCEPT = "application/vnd.manageengine.sdp.v3+json"
_WRAPPER = {"onprem": "note", "cloud": "request_note"}
_LIST_KEY = {"onprem": "notes", "cloud": "request_notes"}
# Request attributes that are lookups (set by name or id), as the v3 request object has them.
_LOOKUPS = ("category", "subcategory", "item", "priority", "request_type", "impact", "urgency")
_REQUEST = re.compile(r"^/api/v3/requests/([^/]+)$")
_NOTES = re.compile(r"^/api/v3/requests/([^/]+)/notes$")
_NOTE = re.compile(r"^/api/v3/requests/([^/]+)/notes/([^/]+)$")


def _success() -> dict[str, Any]:
    return {"status_code": 2000, "status": "success"}


def _failure(code: int, message: str) -> dict[str, Any]:
    return {
        "response_status": {
            "status_code": 4000,
            "messages": [{"status_code": code, "type": "failed", "message": message}],
            "status": "failed",
        }
    }


class SdpServer(VendorServer):
    def __init__(self, flavor: str = "onprem", api_key: str = "sdp-test-key") -> None:
        super().__init__()
        if flavor not in _WRAPPER:
            raise ValueError(f"flavor must be onprem or cloud, not {flavor!r}")
        self.flavor = flavor
        self.api_key = api_key
        self.note_delay_seconds = 0.0
        self._requests: dict[str, dict[str, Any]] = {}
        self._notes: dict[str, list[dict[str, Any]]] = {}
        self._note_posts = 0
        self._note_reads = 0
        self._ids = itertools.count(234759602834500)

    # Test hooks ---------------------------------------------------------------------------

    def add_request(self, request: dict[str, Any]) -> None:
        with self._lock:
            self._requests[str(request["id"])] = copy.deepcopy(request)

    def request(self, ticket_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._requests[str(ticket_id)])

    def add_technician_note(self, ticket_id: str, description: str) -> None:
        """A note as a technician adds it in the web client."""
        with self._lock:
            serial = next(self._ids)
            note = {
                "id": serial if self.flavor == "onprem" else str(serial),
                "description": description,
                "show_to_requester": False,
            }
            self._notes.setdefault(str(ticket_id), []).append(note)

    def notes(self, ticket_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._notes.get(str(ticket_id), []))

    @property
    def note_posts(self) -> int:
        """Notes created successfully."""
        with self._lock:
            return self._note_posts

    @property
    def note_reads(self) -> int:
        """Note list reads (GET .../notes), answered or not."""
        with self._lock:
            return self._note_reads

    # Behaviour ----------------------------------------------------------------------------

    def _authorized(self, headers: dict[str, str]) -> bool:
        if self.flavor == "onprem":
            return headers.get("authtoken") == self.api_key
        return headers.get("authorization") == f"Zoho-oauthtoken {self.api_key}"

    def _list_requests(self) -> Reply:
        with self._lock:
            page = [copy.deepcopy(r) for r in list(self._requests.values())[:1]]
        body = {
            "requests": page,
            "list_info": {"row_count": len(page), "start_index": 1, "has_more_rows": False},
            "response_status": [_success()],
        }
        return 200, body, {}

    def _get_request(self, ticket_id: str) -> Reply:
        with self._lock:
            request = self._requests.get(ticket_id)
            if request is None:
                return 404, _failure(4007, "Invalid URL or resource not found"), {}
            return 200, {"request": copy.deepcopy(request), "response_status": _success()}, {}

    def _list_notes(self, ticket_id: str, query: str) -> Reply:
        with self._lock:
            self._note_reads += 1
        raw = parse_qs(query).get("input_data", ["{}"])[0]
        try:
            list_info = json.loads(raw).get("list_info") or {}
            row_count = min(int(list_info.get("row_count", 10)), 100)
            start = max(int(list_info.get("start_index", 1)), 1)
        except (ValueError, TypeError, AttributeError):
            return 400, _failure(4001, "input_data must hold a valid list_info"), {}
        with self._lock:
            if ticket_id not in self._requests:
                return 404, _failure(4007, "Invalid URL or resource not found"), {}
            notes = copy.deepcopy(self._notes.get(ticket_id, []))
        page = notes[start - 1 : start - 1 + row_count]
        if self.flavor == "onprem":
            for note in page:
                note.pop("description", None)
        body = {
            _LIST_KEY[self.flavor]: page,
            "list_info": {
                "row_count": len(page),
                "start_index": start,
                "has_more_rows": start - 1 + row_count < len(notes),
            },
            "response_status": [_success()],
        }
        return 200, body, {}

    def _get_note(self, ticket_id: str, note_id: str) -> Reply:
        with self._lock:
            for note in self._notes.get(ticket_id, []):
                if str(note["id"]) == note_id:
                    body = {_WRAPPER[self.flavor]: copy.deepcopy(note)}
                    return 200, body | {"response_status": _success()}, {}
        return 404, _failure(4007, "Invalid URL or resource not found"), {}

    def _post_note(self, ticket_id: str, content_type: str, raw_body: bytes) -> Reply:
        with self._lock:
            if (failure := self.take_failure()) is not None:
                return failure
            if ticket_id not in self._requests:
                return 404, _failure(4007, "Invalid URL or resource not found"), {}
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return 400, _failure(4001, "expected form-encoded input_data"), {}
        form = parse_qs(raw_body.decode())
        try:
            input_data = json.loads(form["input_data"][0])
            note_in = input_data[_WRAPPER[self.flavor]]
            description = note_in["description"]
        except (KeyError, IndexError, ValueError, TypeError):
            wanted = _WRAPPER[self.flavor]
            return 400, _failure(4001, f"input_data must hold a {wanted!r} with description"), {}
        if not isinstance(description, str) or not description:
            return 400, _failure(4012, "description is mandatory"), {}
        now = str(int(time.time() * 1000))
        with self._lock:
            serial = next(self._ids)
            note = {
                # On-premises returns ids as numbers, Cloud as strings: clients must take both.
                "id": serial if self.flavor == "onprem" else str(serial),
                "description": description,
                "show_to_requester": bool(note_in.get("show_to_requester", True)),
                "notify_technician": bool(note_in.get("notify_technician", False)),
                "mark_first_response": bool(note_in.get("mark_first_response", False)),
                "add_to_linked_requests": bool(note_in.get("add_to_linked_requests", False)),
                "added_time": {"value": now, "display_value": now},
                "last_updated_time": {"value": now, "display_value": now},
            }
            self._notes.setdefault(ticket_id, []).append(note)
            self._note_posts += 1
            body = {_WRAPPER[self.flavor]: copy.deepcopy(note), "response_status": _success()}
        # Stored first, answered late: a client that times out cannot know it succeeded.
        if self.note_delay_seconds:
            time.sleep(self.note_delay_seconds)
        return 201, body, {}

    def _update_request(self, ticket_id: str, content_type: str, raw_body: bytes) -> Reply:
        """Edit Request: `input_data={"request": {...}}`; lookups are set by name or id."""
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return 400, _failure(4001, "expected form-encoded input_data"), {}
        try:
            changes = json.loads(parse_qs(raw_body.decode())["input_data"][0])["request"]
        except (KeyError, IndexError, ValueError, TypeError):
            return 400, _failure(4001, "input_data must hold a 'request'"), {}
        if not isinstance(changes, dict):
            return 400, _failure(4001, "request must be an object"), {}
        for key, value in changes.items():
            named = isinstance(value, dict) and ("name" in value or "id" in value)
            if key in _LOOKUPS and not named:
                return 400, _failure(4014, f"{key} must be a lookup with name or id"), {}
        with self._lock:
            request = self._requests.get(ticket_id)
            if request is None:
                return 404, _failure(4007, "Invalid URL or resource not found"), {}
            request.update(copy.deepcopy(changes))
            body = {"request": copy.deepcopy(request), "response_status": _success()}
        return 200, body, {}

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return _failure(4000 if status < 500 else 5000, message)

    def route(self, request: Received) -> Reply:
        if not self._authorized(request.headers):
            return 401, _failure(4001, "AUTHENTICATION_FAILURE: invalid credentials"), {}
        if ACCEPT not in (request.headers.get("accept") or ""):
            return 400, _failure(4000, f"Accept must be {ACCEPT}"), {}
        method, path = request.method, request.path
        if method == "GET" and path == "/api/v3/requests":
            return self._list_requests()
        if method == "GET" and (match := _REQUEST.match(path)):
            return self._get_request(unquote(match[1]))
        if method == "GET" and (match := _NOTES.match(path)):
            return self._list_notes(unquote(match[1]), request.query)
        if method == "GET" and (match := _NOTE.match(path)):
            return self._get_note(unquote(match[1]), unquote(match[2]))
        if method == "POST" and (match := _NOTES.match(path)):
            content_type = request.headers.get("content-type") or ""
            return self._post_note(unquote(match[1]), content_type, request.body)
        if method == "PUT" and (match := _REQUEST.match(path)):
            content_type = request.headers.get("content-type") or ""
            return self._update_request(unquote(match[1]), content_type, request.body)
        return 404, _failure(4007, "Invalid URL or resource not found"), {}
