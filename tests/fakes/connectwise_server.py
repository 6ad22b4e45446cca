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
import time
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.vendor_server import Received, Reply, VendorServer

ROOT = "/v4_6_release/apis/3.0"
_TICKET = re.compile(rf"^{ROOT}/service/tickets/(\d+)$")
_NOTES = re.compile(rf"^{ROOT}/service/tickets/(\d+)/notes$")
SEEDED = "portal"  # createdBy of the notes a test seeds, as if typed in ConnectWise
_CONDITION = re.compile(r"^(\w+)\s*=\s*(true|false|\d+)$")


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "errors": None}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class ConnectWiseServer(VendorServer):
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
        self._tickets: dict[str, dict[str, Any]] = {}
        self._notes: dict[str, list[dict[str, Any]]] = {}
        self._callbacks: list[dict[str, Any]] = []
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
            self._store_note(ticket_id, description, detail=True, created_by=SEEDED)

    def update_ticket(self, ticket_id: str, **changes: Any) -> None:
        with self._lock:
            self._tickets[ticket_id].update(copy.deepcopy(changes))
            self._tickets[ticket_id]["_info"]["lastUpdated"] = _now()

    def add_resolution(self, ticket_id: str, text: str) -> None:
        self._store_note(ticket_id, text, resolution=True, created_by=SEEDED)

    def notes(self, ticket_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._notes.get(ticket_id, []))

    def callbacks(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._callbacks)

    @property
    def base_url(self) -> str:
        return self._root_url() + ROOT

    # Behaviour ----------------------------------------------------------------------------

    def _authorized(self, headers: Any) -> bool:
        pair = f"{self.company}+{self.public_key}:{self.private_key}".encode()
        expected = "Basic " + base64.b64encode(pair).decode()
        given = headers.get("authorization") or ""
        return secrets.compare_digest(given, expected) and headers.get("clientid") == self.client_id

    def _store_note(
        self,
        ticket_id: str,
        text: str,
        *,
        detail: bool = False,
        internal: bool = False,
        resolution: bool = False,
        created_by: str | None = None,
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
                "createdBy": created_by or self.public_key,
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
            failure = self.take_failure()
            if failure is not None:
                return failure
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

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return _error("Simulated", message)

    def route(self, request: Received) -> Reply:
        if not self._authorized(request.headers):
            return 401, _error("Unauthorized", "invalid credentials"), {}
        method, path, raw = request.method, request.path, request.body
        query = parse_qs(request.query)
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
