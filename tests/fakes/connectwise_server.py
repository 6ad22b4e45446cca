"""A ConnectWise PSA (Manage REST API 3.0)-shaped HTTP server on loopback.

It follows the documented formats under `/v4_6_release/apis/3.0`: `Authorization: Basic
base64("{companyId}+{publicKey}:{privateKey}")` plus the `clientId` header on every call;
`GET /service/tickets/{id}`, `GET /service/tickets` and `GET|POST
/service/tickets/{id}/notes` (bare JSON arrays, `page` / `pageSize`, `orderBy`, simple
`conditions`), errors as `{"code", "message", "errors"}`, throttling as 429 with
`Retry-After`, and `POST|GET /system/callbacks`. Notes keep their three flags, so a test
sees whether a note went to the Internal tab or the Discussion.

    with ConnectWiseServer(company="acme", public_key="pub", private_key="priv",
                           client_id="cid") as cw:
        cw.add_ticket({"id": 101, "summary": "VPN down"})
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import secrets
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import LoopbackServer

ROOT = "/v4_6_release/apis/3.0"
_TICKET = re.compile(rf"^{ROOT}/service/tickets/(\d+)$")
_NOTES = re.compile(rf"^{ROOT}/service/tickets/(\d+)/notes$")
_CONDITION = re.compile(r"^(\w+)\s*=\s*(true|false|\d+)$")

Reply = tuple[int, Any, dict[str, str]]  # status, JSON body, extra headers


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "errors": None}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class ConnectWiseServer(LoopbackServer):
    def __init__(
        self,
        *,
        company: str = "acme",
        public_key: str = "cw-public-key",
        private_key: str = "cw-private-key",
        client_id: str = "cw-client-id",
    ) -> None:
        super().__init__()
        self.company = company
        self.public_key = public_key
        self.private_key = private_key
        self.client_id = client_id
        self.note_delay_seconds = 0.0
        self.retry_after_seconds = 1
        self._lock = threading.Lock()
        self._tickets: dict[str, dict[str, Any]] = {}
        self._notes: dict[str, list[dict[str, Any]]] = {}
        self._callbacks: list[dict[str, Any]] = []
        self._fail_next: deque[int] = deque()
        self._ids = itertools.count(9001)
        self.ticket_reads = 0

    # Test hooks ---------------------------------------------------------------------------

    def add_ticket(self, ticket: dict[str, Any], description: str | None = None) -> None:
        """A ticket, and its description as the first Discussion note, as ConnectWise keeps it."""
        ticket_id = str(ticket["id"])
        stored = {"_info": {"lastUpdated": _now(), "dateEntered": _now()}, **ticket}
        with self._lock:
            self._tickets[ticket_id] = copy.deepcopy(stored)
            self._notes.setdefault(ticket_id, [])
        if description is not None:
            self._store_note(ticket_id, description, detail=True)

    def update_ticket(self, ticket_id: str, **changes: Any) -> None:
        with self._lock:
            self._tickets[ticket_id].update(copy.deepcopy(changes))
            self._tickets[ticket_id]["_info"]["lastUpdated"] = _now()

    def add_resolution(self, ticket_id: str, text: str) -> None:
        self._store_note(ticket_id, text, resolution=True)

    def notes(self, ticket_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._notes.get(ticket_id, []))

    def callbacks(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._callbacks)

    def fail_next(self, *status_codes: int) -> None:
        """The next note POSTs answer these codes, in order, without creating a note."""
        with self._lock:
            self._fail_next.extend(status_codes)

    @property
    def base_url(self) -> str:
        return self._root_url() + ROOT

    # Behaviour ----------------------------------------------------------------------------

    def _authorized(self, headers: Any) -> bool:
        pair = f"{self.company}+{self.public_key}:{self.private_key}".encode()
        expected = "Basic " + base64.b64encode(pair).decode()
        given = headers.get("Authorization") or ""
        return secrets.compare_digest(given, expected) and headers.get("clientId") == self.client_id

    def _store_note(
        self,
        ticket_id: str,
        text: str,
        *,
        detail: bool = False,
        internal: bool = False,
        resolution: bool = False,
    ) -> dict[str, Any]:
        with self._lock:
            note = {
                "id": next(self._ids),
                "ticketId": int(ticket_id),
                "text": text,
                "detailDescriptionFlag": detail,
                "internalAnalysisFlag": internal,
                "resolutionFlag": resolution,
                "customerUpdatedFlag": False,
                "dateCreated": _now(),
                "createdBy": self.public_key,
                "internalFlag": internal,
                "externalFlag": detail or resolution,
                "_info": {"lastUpdated": _now(), "updatedBy": self.public_key},
            }
            self._notes.setdefault(ticket_id, []).append(note)
            self._tickets[ticket_id]["_info"]["lastUpdated"] = _now()
            return copy.deepcopy(note)

    def _get_ticket(self, ticket_id: str) -> Reply:
        with self._lock:
            self.ticket_reads += 1
            ticket = self._tickets.get(ticket_id)
            if ticket is None:
                return 404, _error("NotFound", f"Ticket ID {ticket_id} not found"), {}
            return 200, copy.deepcopy(ticket), {}

    @staticmethod
    def _page(rows: list[Any], query: dict[str, list[str]]) -> list[Any]:
        page = max(int(query.get("page", ["1"])[0]), 1)
        size = min(max(int(query.get("pageSize", ["25"])[0]), 1), 1000)
        return rows[(page - 1) * size : page * size]

    def _list_notes(self, ticket_id: str, query: dict[str, list[str]]) -> Reply:
        with self._lock:
            if ticket_id not in self._tickets:
                return 404, _error("NotFound", f"Ticket ID {ticket_id} not found"), {}
            rows = copy.deepcopy(self._notes.get(ticket_id, []))
        for condition in query.get("conditions", []):
            match = _CONDITION.match(condition.strip())
            if match is None:
                return 400, _error("InvalidObject", f"conditions not understood: {condition}"), {}
            field, raw = match[1], match[2]
            value: Any = raw == "true" if raw in ("true", "false") else int(raw)
            rows = [r for r in rows if r.get(field) == value]
        if query.get("orderBy", ["id asc"])[0].strip().endswith("desc"):
            rows.reverse()
        return 200, self._page(rows, query), {}

    def _post_note(self, ticket_id: str, raw_body: bytes) -> Reply:
        with self._lock:
            if self._fail_next:
                code = self._fail_next.popleft()
                headers = {"Retry-After": str(self.retry_after_seconds)} if code == 429 else {}
                return code, _error("Simulated", f"simulated {code}"), headers
            if ticket_id not in self._tickets:
                return 404, _error("NotFound", f"Ticket ID {ticket_id} not found"), {}
        try:
            note = json.loads(raw_body)
            text = note["text"]
        except (ValueError, KeyError, TypeError):
            return 400, _error("InvalidObject", "text is required"), {}
        if not isinstance(text, str) or not text:
            return 400, _error("InvalidObject", "text is required"), {}
        stored = self._store_note(
            ticket_id,
            text,
            detail=note.get("detailDescriptionFlag") is True,
            internal=note.get("internalAnalysisFlag") is True,
            resolution=note.get("resolutionFlag") is True,
        )
        if self.note_delay_seconds:
            time.sleep(self.note_delay_seconds)
        return 201, stored, {}

    def _route(self, method: str, path: str, query: dict[str, list[str]], raw: bytes) -> Reply:
        if method == "GET" and (match := _TICKET.match(path)):
            return self._get_ticket(match[1])
        if method == "GET" and path == f"{ROOT}/service/tickets":
            with self._lock:
                rows = [copy.deepcopy(t) for t in self._tickets.values()]
            return 200, self._page(rows, query), {}
        if method == "GET" and (match := _NOTES.match(path)):
            return self._list_notes(match[1], query)
        if method == "POST" and (match := _NOTES.match(path)):
            return self._post_note(match[1], raw)
        if path == f"{ROOT}/system/callbacks":
            if method == "GET":
                return 200, self.callbacks(), {}
            callback = json.loads(raw)
            with self._lock:
                callback["id"] = len(self._callbacks) + 1
                self._callbacks.append(callback)
            return 201, callback, {}
        return 404, _error("NotFound", f"no route for {method} {path}"), {}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: tests read results, not access logs."""

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if not server._authorized(self.headers):
                    reply: Reply = (401, _error("Unauthorized", "invalid credentials"), {})
                else:
                    url = urlsplit(self.path)
                    reply = server._route(method, url.path, parse_qs(url.query), raw)
                status, body, headers = reply
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler
