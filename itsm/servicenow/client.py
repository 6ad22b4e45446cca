"""ServiceNow Table API client: read a record, find and add work notes.

Notes are `work_notes` (visible to the fulfiller/agent side only), written with
`PATCH /api/now/table/{table}/{sys_id}`; never `comments`, which the caller sees. A work
note is a journal entry (table `sys_journal_field`), which is where find_note looks for
our marker and where a note's id comes from. Work notes are plain text: ServiceNow
shows HTML in a journal field as literal tags unless wrapped in `[code]`, which admins
often disable (glide.ui.security.allow_codetag), so the note is posted as text.

Authentication: basic (an integration user's name and password), or OAuth 2.0 with the
password grant against `/oauth_token.do` (client id and secret of an OAuth API endpoint in
System OAuth > Application Registry, plus that user); the token is kept until it expires
or is refused, then fetched once more. Tokens are kept per instance, client and user in
the plugin's TokenCache, so events share one instead of each asking /oauth_token.do.

Rate limits: a rate limit rule (System Web Services > REST > Rate Limit Rules) answers
429 with `Retry-After`, honoured by the retry; where an instance also sends
`X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch seconds), no call is sent once
none are left until the reset (itsm.http).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from aiops.errors import PermanentError
from aiops.events import Ticket
from itsm.base import NormalizationError
from itsm.html_text import html_to_text
from itsm.http import MESSAGE_LIMIT, ItsmHttp, RateLimitHeaders, Refused, RetryPolicy, Vendor
from itsm.servicenow.normalize import TABLES, ticket_from_record

AuthMode = Literal["basic", "oauth"]
AUTH_MODES: tuple[AuthMode, ...] = ("basic", "oauth")

_JOURNAL = "/api/now/table/sys_journal_field"
_PAGE_SIZE = 100
_MAX_NOTE_PAGES = 20
_TOKEN_MARGIN_SECONDS = 30.0
_DEFAULT_TOKEN_SECONDS = 1800.0  # ServiceNow's default access token lifespan
# A rate limit rule's answers: the reset as epoch seconds (the 429 also has Retry-After).
RATE_LIMIT = RateLimitHeaders(remaining=("x-ratelimit-remaining",), reset=("x-ratelimit-reset",))


@dataclass(frozen=True)
class ServiceNowSettings:
    base_url: str  # https://<instance>.service-now.com
    username: str
    password: str = field(repr=False)
    table: str = "incident"
    auth: AuthMode = "basic"
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    timeout_seconds: float = 15.0

    def token_key(self) -> str:
        """Which token these settings may share: same instance, client, user and secrets."""
        parts = (self.base_url, self.client_id, self.client_secret, self.username, self.password)
        return hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()


class TokenCache:
    """OAuth access tokens by TokenKey, until they expire (less a margin) or are refused."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}

    def get(self, key: str) -> str | None:
        with self._lock:
            found = self._tokens.get(key)
            return found[0] if found is not None and self._clock() < found[1] else None

    def put(self, key: str, token: str, lifetime: float) -> None:
        with self._lock:
            expires = self._clock() + max(0.0, lifetime - _TOKEN_MARGIN_SECONDS)
            self._tokens[key] = (token, expires)

    def drop(self, key: str, token: str) -> None:
        with self._lock:
            if self._tokens.get(key, ("", 0.0))[0] == token:
                del self._tokens[key]


def _sn_message(payload: Any) -> str:
    """ServiceNow's error body: {"error": {"message": ..., "detail": ...}, "status": "failure"}."""
    if isinstance(payload, Mapping):
        error = payload.get("error")
        if isinstance(error, Mapping):
            parts = [str(error[k]) for k in ("message", "detail") if error.get(k)]
            if parts:
                return ": ".join(parts)[:MESSAGE_LIMIT]
        if isinstance(error, str):  # the OAuth endpoint: {"error": "access_denied", ...}
            return f"{error} {payload.get('error_description') or ''}".strip()[:MESSAGE_LIMIT]
    return "no ServiceNow error body"


def _vendor(table: str) -> Vendor:
    def refusal(status: int, where: str, message: str) -> str:
        if status == 401:
            return (
                f"ServiceNow refused the credentials (401) for {where}: {message}; check the "
                "integration user's name and password (and, for OAuth, the client id and secret)"
            )
        if status == 403:
            return (
                f"ServiceNow answered 403 to {where}: {message}; give the integration user "
                f"the roles to read and write {table} work notes and to read sys_journal_field "
                "(e.g. itil)"
            )
        if status == 404:
            return (
                f"ServiceNow answered 404 to {where}: {message}; check the record's sys_id "
                "and the tenant's table"
            )
        return f"ServiceNow answered {status} to {where}: {message}"

    return Vendor(
        "ServiceNow",
        error_message=_sn_message,
        refusal=refusal,
        not_json_hint="check the instance URL (https://<instance>.service-now.com)",
        rate_limit=RATE_LIMIT,
    )


class ServiceNowClient:
    """One tenant's ServiceNow. Transient failures are retried here (backoff + jitter);
    what is left surfaces as TransientError or PermanentError. Messages carry no secret."""

    def __init__(
        self,
        settings: ServiceNowSettings,
        http: httpx.Client,
        retry: RetryPolicy | None = None,
        *,
        tokens: TokenCache | None = None,
    ) -> None:
        if settings.table not in TABLES:
            raise PermanentError(
                f"ServiceNow table must be one of {', '.join(TABLES)}, not {settings.table!r}"
            )
        if settings.auth not in AUTH_MODES:
            raise PermanentError(f"ServiceNow auth must be basic or oauth, not {settings.auth!r}")
        if settings.auth == "oauth" and not (settings.client_id and settings.client_secret):
            raise PermanentError(
                "ServiceNow OAuth needs the client id and client secret of the OAuth API "
                "endpoint (System OAuth > Application Registry)"
            )
        if not settings.username:
            raise PermanentError("ServiceNow needs the integration user's name")
        self._settings = settings
        self._vendor = _vendor(settings.table)
        self._http = http
        self._retry = retry or RetryPolicy()
        self._tokens = tokens if tokens is not None else TokenCache()
        self._token_key = settings.token_key()
        # Without auth headers: the token endpoint, and the retry loop of every call.
        self._plain = self._api({})

    # ItsmClient ---------------------------------------------------------------------------

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        payload = self._call(
            "GET",
            self._record_path(ticket_id),
            params={"sysparm_display_value": "all", "sysparm_exclude_reference_link": "true"},
        )
        try:
            return ticket_from_record(payload.get("result"), ("result",))
        except NormalizationError as exc:
            table = self._settings.table
            raise PermanentError(f"ServiceNow {table} {ticket_id} is unreadable: {exc}") from exc

    def check_credentials(self) -> None:
        """One sys_id of the configured table: proves the credentials and the read role."""
        self._call(
            "GET",
            f"/api/now/table/{self._settings.table}",
            params={"sysparm_limit": "1", "sysparm_fields": "sys_id"},
        )

    def find_note(self, ticket_id: str, marker: str) -> str | None:
        return self._find_note(ticket_id, lambda text: marker in text, self._call, like=marker)

    def add_note(self, ticket_id: str, body_html: str) -> str:
        """Adds a work note; returns the id of its journal entry.

        A retry after a failure that may have taken effect first looks for a work note
        with the same text, so a slow instance never gets the note twice.
        """
        text = html_to_text(body_html)

        def same(found: str) -> bool:
            return found.strip() == text.strip()

        def post() -> str:
            self._send(
                "PATCH",
                self._record_path(ticket_id),
                params={"sysparm_fields": "sys_id,sys_updated_on"},
                json={"work_notes": text},
            )
            note_id = self._find_note(ticket_id, same, self._send, like=None)
            if note_id is None:
                raise PermanentError(
                    f"ServiceNow took the work note on {self._settings.table} {ticket_id} but "
                    "shows no journal entry for it; give the integration user read access to "
                    "sys_journal_field"
                )
            return note_id

        return self._plain.post_once(
            post, lambda: self._find_note(ticket_id, same, self._send, like=None)
        )

    # Internals ----------------------------------------------------------------------------

    def _find_note(
        self,
        ticket_id: str,
        matches: Callable[[str], bool],
        call: Callable[..., Mapping[str, Any]],
        *,
        like: str | None,
    ) -> str | None:
        query = f"element_id={ticket_id}^element=work_notes"
        if like is not None and "^" not in like:  # "^" would end the encoded query
            query += f"^valueLIKE{like}"
        for page in range(_MAX_NOTE_PAGES):
            listing = call(
                "GET",
                _JOURNAL,
                params={
                    "sysparm_query": query + "^ORDERBYDESCsys_created_on",
                    "sysparm_fields": "sys_id,value,element,element_id",
                    "sysparm_limit": str(_PAGE_SIZE),
                    "sysparm_offset": str(page * _PAGE_SIZE),
                },
            )
            entries = listing.get("result")
            if not isinstance(entries, list):
                return None
            for entry in entries:
                if not isinstance(entry, Mapping):
                    continue
                sys_id, value = entry.get("sys_id"), entry.get("value")
                if isinstance(sys_id, str) and sys_id and isinstance(value, str) and matches(value):
                    return sys_id
            if len(entries) < _PAGE_SIZE:
                return None
        return None

    def _record_path(self, ticket_id: str) -> str:
        if not ticket_id or not ticket_id.isalnum():
            raise PermanentError(f"a ServiceNow sys_id is 32 hex characters, not {ticket_id!r}")
        return f"/api/now/table/{self._settings.table}/{ticket_id}"

    def _api(self, headers: Mapping[str, str]) -> ItsmHttp:
        return ItsmHttp(
            self._vendor,
            self._settings.base_url,
            {"Accept": "application/json", **headers},
            self._http,
            timeout_seconds=self._settings.timeout_seconds,
            retry=self._retry,
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> Mapping[str, Any]:
        return self._plain.retrying(lambda: self._send(method, path, **kwargs))

    def _send(self, method: str, path: str, **kwargs: Any) -> Mapping[str, Any]:
        settings = self._settings
        if settings.auth == "basic":
            pair = f"{settings.username}:{settings.password}".encode()
            return self._api({"Authorization": "Basic " + base64.b64encode(pair).decode()}).send(
                method, path, **kwargs
            )
        token = self._token()
        try:
            return self._api({"Authorization": f"Bearer {token}"}).send(method, path, **kwargs)
        except Refused as exc:
            if exc.status != 401:
                raise
        # Revoked or expired early: one fresh token, then the 401 stands.
        self._tokens.drop(self._token_key, token)
        return self._api({"Authorization": f"Bearer {self._token()}"}).send(method, path, **kwargs)

    def _token(self) -> str:
        cached = self._tokens.get(self._token_key)
        if cached is not None:
            return cached
        settings = self._settings
        form = {
            "grant_type": "password",
            "client_id": settings.client_id or "",
            "client_secret": settings.client_secret or "",
            "username": settings.username,
            "password": settings.password,
        }
        try:
            payload = self._plain.send("POST", "/oauth_token.do", data=form)
        except Refused as exc:
            raise PermanentError(
                f"ServiceNow refused the OAuth credentials ({exc.status}) at /oauth_token.do; "
                "check the client id and secret and the integration user's name and password"
            ) from exc
        token = payload.get("access_token")
        if not isinstance(token, str) or not token:
            raise PermanentError("ServiceNow's /oauth_token.do answered without an access_token")
        lifetime = payload.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float) else _DEFAULT_TOKEN_SECONDS
        self._tokens.put(self._token_key, token, seconds)
        return token
