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
or is refused, then fetched once more.

Rate limits: a rate limit rule answers 429 with `Retry-After` (and `X-RateLimit-Reset`,
epoch seconds); both are honoured, the first one that is present.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx

from aiops.errors import PermanentError, TransientError
from aiops.events import Ticket
from aiops.retry import call_with_retries, parse_retry_after
from itsm.base import NormalizationError
from itsm.html_text import html_to_text
from itsm.servicenow.normalize import TABLES, ticket_from_record

T = TypeVar("T")
AuthMode = Literal["basic", "oauth"]
AUTH_MODES: tuple[AuthMode, ...] = ("basic", "oauth")

_JOURNAL = "/api/now/table/sys_journal_field"
_PAGE_SIZE = 100
_MAX_NOTE_PAGES = 20
_MESSAGE_LIMIT = 300
_TOKEN_MARGIN_SECONDS = 30.0


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


class _MaybeApplied(TransientError):
    """Failed after the request was sent (read timeout, reset, 5xx): it may have taken effect."""


class _TokenRefused(Exception):
    """The bearer token was refused (401): fetch a new one once."""


def _sn_message(payload: Any) -> str:
    """ServiceNow's error body: {"error": {"message": ..., "detail": ...}, "status": "failure"}."""
    if isinstance(payload, Mapping):
        error = payload.get("error")
        if isinstance(error, Mapping):
            parts = [str(error[k]) for k in ("message", "detail") if error.get(k)]
            if parts:
                return ": ".join(parts)[:_MESSAGE_LIMIT]
        if isinstance(error, str):  # the OAuth endpoint: {"error": "access_denied", ...}
            return f"{error} {payload.get('error_description') or ''}".strip()[:_MESSAGE_LIMIT]
    return "no ServiceNow error body"


def _retry_after(response: httpx.Response) -> float | None:
    waited = parse_retry_after(response.headers.get("retry-after"))
    if waited is not None:
        return waited
    reset = response.headers.get("x-ratelimit-reset", "").strip()
    return max(0.0, int(reset) - time.time()) if reset.isdigit() else None


class ServiceNowClient:
    """One tenant's ServiceNow. Transient failures are retried here (backoff + jitter);
    what is left surfaces as TransientError or PermanentError. Messages carry no secret."""

    def __init__(
        self,
        settings: ServiceNowSettings,
        http: httpx.Client,
        *,
        attempts: int = 3,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
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
        self._base_url = settings.base_url.rstrip("/")
        self._http = http
        self._attempts = attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._sleep = sleep
        self._token: str | None = None
        self._token_expires = 0.0

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
        """One cheap authenticated read of the configured table; raises like every call."""
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
        maybe_posted = False

        def same(found: str) -> bool:
            return found.strip() == text.strip()

        def attempt() -> str:
            nonlocal maybe_posted
            if maybe_posted:
                existing = self._find_note(ticket_id, same, self._send, like=None)
                if existing is not None:
                    return existing
            try:
                self._send(
                    "PATCH",
                    self._record_path(ticket_id),
                    params={"sysparm_fields": "sys_id,sys_updated_on"},
                    json={"work_notes": text},
                )
            except _MaybeApplied:
                maybe_posted = True
                raise
            note_id = self._find_note(ticket_id, same, self._send, like=None)
            if note_id is None:
                raise PermanentError(
                    f"ServiceNow took the work note on {self._settings.table} {ticket_id} but "
                    "shows no journal entry for it; give the integration user read access to "
                    "sys_journal_field"
                )
            return note_id

        return self._retrying(attempt)

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
        if like is not None and "^" not in like:
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
        if not ticket_id:
            raise PermanentError("a ServiceNow sys_id is required")
        return f"/api/now/table/{self._settings.table}/{quote(ticket_id, safe='')}"

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

    def _authorization(self) -> str:
        settings = self._settings
        if settings.auth == "basic":
            pair = f"{settings.username}:{settings.password}".encode()
            return "Basic " + base64.b64encode(pair).decode()
        if self._token is None or time.monotonic() >= self._token_expires:
            self._token, lifetime = self._fetch_token()
            self._token_expires = time.monotonic() + max(0.0, lifetime - _TOKEN_MARGIN_SECONDS)
        return f"Bearer {self._token}"

    def _fetch_token(self) -> tuple[str, float]:
        settings = self._settings
        form = {
            "grant_type": "password",
            "client_id": settings.client_id or "",
            "client_secret": settings.client_secret or "",
            "username": settings.username,
            "password": settings.password,
        }
        response = self._request("POST", "/oauth_token.do", data=form, headers={})
        payload = _json(response)
        if response.status_code in (400, 401):
            raise PermanentError(
                f"ServiceNow refused the OAuth credentials ({response.status_code}) at "
                f"/oauth_token.do: {_sn_message(payload)}; check the client id and secret "
                "and the integration user's name and password"
            )
        self._raise_for_status(response, "POST /oauth_token.do", payload)
        token = payload.get("access_token") if isinstance(payload, Mapping) else None
        if not isinstance(token, str) or not token:
            raise PermanentError("ServiceNow's /oauth_token.do answered without an access_token")
        lifetime = payload.get("expires_in") if isinstance(payload, Mapping) else None
        return token, float(lifetime) if isinstance(lifetime, int | float) else 1800.0

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> Mapping[str, Any]:
        try:
            return self._send_once(method, path, params=params, json=json)
        except _TokenRefused:
            self._token = None  # revoked or expired early: one fresh token, then give up
            try:
                return self._send_once(method, path, params=params, json=json)
            except _TokenRefused:
                raise PermanentError(
                    f"ServiceNow refused a fresh OAuth token (401) for {method} {path}; "
                    "check the OAuth endpoint's scope and the user's roles"
                ) from None

    def _send_once(
        self, method: str, path: str, *, params: Mapping[str, str] | None, json: Any
    ) -> Mapping[str, Any]:
        headers = {"Accept": "application/json", "Authorization": self._authorization()}
        response = self._request(method, path, params=params, json=json, headers=headers)
        payload = _json(response)
        where = f"{method} {path}"
        if response.status_code == 401:
            if self._settings.auth == "oauth":
                raise _TokenRefused()
            raise PermanentError(
                f"ServiceNow refused the credentials (401) for {where}: {_sn_message(payload)}; "
                "check the integration user's name and password"
            )
        self._raise_for_status(response, where, payload)
        if not isinstance(payload, Mapping):
            raise PermanentError(
                f"ServiceNow answered {where} with something other than JSON; check the "
                "instance URL (https://<instance>.service-now.com)"
            )
        return payload

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        where = f"{method} {path}"
        try:
            return self._http.request(
                method, self._base_url + path, timeout=self._settings.timeout_seconds, **kwargs
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(f"ServiceNow unreachable for {where}: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise _MaybeApplied(f"ServiceNow failed during {where}: {type(exc).__name__}") from exc

    def _raise_for_status(self, response: httpx.Response, where: str, payload: Any) -> None:
        status = response.status_code
        if status == 429:
            message = f"ServiceNow rate-limited {where} (429)"
            raise TransientError(message, retry_after=_retry_after(response))
        if status >= 500 or status == 408:
            message = f"ServiceNow answered {status} to {where}"
            raise _MaybeApplied(message, retry_after=_retry_after(response))
        if status == 403:
            raise PermanentError(
                f"ServiceNow answered 403 to {where}: {_sn_message(payload)}; give the "
                f"integration user the roles to read and write {self._settings.table} work "
                "notes and to read sys_journal_field (e.g. itil)"
            )
        if status == 404:
            raise PermanentError(
                f"ServiceNow answered 404 to {where}: {_sn_message(payload)}; check the "
                "record's sys_id and the tenant's table"
            )
        if not 200 <= status < 300:
            raise PermanentError(f"ServiceNow answered {status} to {where}: {_sn_message(payload)}")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
