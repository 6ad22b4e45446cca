"""A ServiceNow Table API-shaped HTTP server on loopback, for driving our real client.

It follows the documented formats: `GET|PATCH /api/now/table/{table}/{sys_id}` answering
`{"result": {...}}`, list reads with `sysparm_query` / `sysparm_limit` / `sysparm_offset`,
journal entries (work notes and comments) in `sys_journal_field`, errors as
`{"error": {"message", "detail"}, "status": "failure"}`, basic auth or a bearer token from
`POST /oauth_token.do` (password grant), and rate limit rules' 429 with `Retry-After`,
`X-RateLimit-Limit` and `X-RateLimit-Reset`.

    with ServiceNowServer(username="svc", password="pw") as sn:
        sn.add_record("incident", {"sys_id": "a1", "short_description": "VPN down"})
        ... sn.base_url ...
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote

from tests.fakes.vendor_server import Received, Reply, StoredButDropped, VendorServer

_JOURNAL_FIELDS = ("work_notes", "comments")


def _error(message: str, detail: str) -> dict[str, Any]:
    return {"error": {"message": message, "detail": detail}, "status": "failure"}


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


class ServiceNowServer(VendorServer):
    def __init__(
        self,
        *,
        username: str = "aiops.integration",
        password: str = "sn-test-password",
        client_id: str | None = None,
        client_secret: str | None = None,
        token_lifetime: int = 1799,
    ) -> None:
        super().__init__()
        self.username = username
        self.password = password
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.note_delay_seconds = 0.0
        self.drop_after_store = False
        self._records: dict[tuple[str, str], dict[str, Any]] = {}
        self._journal: list[dict[str, Any]] = []
        self._tokens: set[str] = set()
        self.token_requests = 0

    # Test hooks ---------------------------------------------------------------------------

    def add_record(self, table: str, record: dict[str, Any]) -> None:
        with self._lock:
            self._records[(table, str(record["sys_id"]))] = copy.deepcopy(record)

    def journal(self, sys_id: str) -> list[dict[str, Any]]:
        """Every journal entry of a record, oldest first: element is work_notes or comments."""
        with self._lock:
            return [copy.deepcopy(e) for e in self._journal if e["element_id"] == sys_id]

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    # Behaviour ----------------------------------------------------------------------------

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme == "Basic":
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return secrets.compare_digest(value, expected)
        with self._lock:
            return scheme == "Bearer" and value in self._tokens

    def _token(self, raw_body: bytes) -> Reply:
        form = {k: v[0] for k, v in parse_qs(raw_body.decode()).items()}
        self.token_requests += 1
        good = (
            form.get("grant_type") == "password"
            and self.client_id is not None
            and form.get("client_id") == self.client_id
            and form.get("client_secret") == self.client_secret
            and form.get("username") == self.username
            and form.get("password") == self.password
        )
        if not good:
            return 401, {"error_description": "access_denied", "error": "server_error"}, {}
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens.add(token)
        body = {
            "access_token": token,
            "refresh_token": secrets.token_urlsafe(24),
            "scope": "useraccount",
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
        }
        return 200, body, {}

    def _get(self, table: str, sys_id: str) -> Reply:
        with self._lock:
            record = self._records.get((table, sys_id))
            if record is None:
                return (
                    404,
                    _error(
                        "No Record found",
                        "Record doesn't exist or ACL restricts the record retrieval",
                    ),
                    {},
                )
            return 200, {"result": copy.deepcopy(record)}, {}

    def _list(self, table: str, query: dict[str, list[str]]) -> Reply:
        limit = int(query.get("sysparm_limit", ["10000"])[0])
        offset = int(query.get("sysparm_offset", ["0"])[0])
        if table == "sys_journal_field":
            rows = self._journal_rows(query.get("sysparm_query", [""])[0])
        else:
            with self._lock:
                rows = [copy.deepcopy(r) for (t, _), r in self._records.items() if t == table]
        return 200, {"result": rows[offset : offset + limit]}, {"X-Total-Count": str(len(rows))}

    def _journal_rows(self, encoded: str) -> list[dict[str, Any]]:
        conditions = [c for c in encoded.split("^") if c]
        newest_first = False
        with self._lock:
            rows = [copy.deepcopy(e) for e in self._journal]
        for condition in conditions:
            if condition == "ORDERBYDESCsys_created_on":
                newest_first = True
            elif "LIKE" in condition:
                field, _, needle = condition.partition("LIKE")
                rows = [r for r in rows if needle.lower() in str(r.get(field, "")).lower()]
            elif "=" in condition:
                field, _, value = condition.partition("=")
                rows = [r for r in rows if str(r.get(field)) == value]
        return rows[::-1] if newest_first else rows

    def _patch(self, table: str, sys_id: str, raw_body: bytes) -> Reply:
        with self._lock:
            failure = self.take_failure()
            if failure is not None:
                code, body, headers = failure
                if code == 429:  # a rate limit rule's answer
                    reset = int(time.time()) + self.retry_after_seconds
                    headers = {
                        **headers,
                        "X-RateLimit-Limit": "100",
                        "X-RateLimit-Reset": str(reset),
                    }
                return code, body, headers
            record = self._records.get((table, sys_id))
            if record is None:
                return 404, _error("No Record found", "Record doesn't exist"), {}
        try:
            changes = json.loads(raw_body)
        except ValueError:
            return 400, _error("Exception while reading request", "Invalid JSON"), {}
        if not isinstance(changes, dict):
            return 400, _error("Exception while reading request", "Expected an object"), {}
        with self._lock:
            for name, value in changes.items():
                if name in _JOURNAL_FIELDS:
                    if value:
                        self._journal.append(
                            {
                                "sys_id": uuid.uuid4().hex,
                                "element": name,
                                "element_id": sys_id,
                                "name": table,
                                "value": str(value),
                                "sys_created_on": _now(),
                                "sys_created_by": self.username,
                            }
                        )
                else:
                    record[name] = value
            record["sys_updated_on"] = _now()
            record["sys_mod_count"] = str(int(record.get("sys_mod_count") or 0) + 1)
            # Journal fields read back empty, as the Table API answers them.
            body = {"result": {**copy.deepcopy(record), "work_notes": "", "comments": ""}}
        if self.drop_after_store:
            self.drop_after_store = False
            raise StoredButDropped()
        if self.note_delay_seconds:
            time.sleep(self.note_delay_seconds)
        return 200, body, {}

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return _error(message, f"HTTP {status}")

    def route(self, request: Received) -> Reply:
        if request.method == "POST" and request.path == "/oauth_token.do":
            return self._token(request.body)
        if not self._authorized(request.headers.get("authorization") or ""):
            return 401, _error("User Not Authenticated", "Required to provide Auth information"), {}
        parts = request.path.split("/")
        if parts[:4] != ["", "api", "now", "table"] or len(parts) not in (5, 6):
            return 400, _error("Requested URI does not represent any resource", ""), {}
        table = unquote(parts[4])
        query = parse_qs(request.query)
        if len(parts) == 5 and request.method == "GET":
            return self._list(table, query)
        sys_id = unquote(parts[5]) if len(parts) == 6 else ""
        if request.method == "GET":
            return self._get(table, sys_id)
        if request.method in ("PATCH", "PUT"):
            return self._patch(table, sys_id, request.body)
        return 405, _error("Method not Supported", request.method), {}
