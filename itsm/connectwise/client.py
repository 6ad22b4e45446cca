"""ConnectWise PSA (Manage) REST client: read a service ticket, find and add internal notes.

Every call sends `Authorization: Basic base64("{companyId}+{publicKey}:{privateKey}")`
(an API member's key pair) and `clientId: <the integration's client id>`, which
ConnectWise requires of every integration since 2019. The base URL is the site's API root,
`https://<site>/v4_6_release/apis/3.0` (e.g. api-na.myconnectwise.net for cloud
tenants); a bare site URL gets that path added.

Notes go to `POST /service/tickets/{id}/notes` with `internalAnalysisFlag: true` and
`detailDescriptionFlag` / `resolutionFlag` false: the Internal tab, which technicians see
and the contact does not (the Discussion, detailDescriptionFlag, is e-mailed to the
contact and shown in the portal). `processNotifications: false`, so no one is e-mailed.
Notes are plain text.

Rate limits: ConnectWise Cloud throttles per API member and answers 429, sometimes with
`Retry-After`; it is honoured, and backoff with jitter applies when it is missing.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from aiops.errors import PermanentError
from aiops.events import Ticket
from itsm.base import NormalizationError
from itsm.connectwise.normalize import ticket_from_service_ticket, ticket_id_of
from itsm.html_text import html_to_text
from itsm.http import MESSAGE_LIMIT, ItsmHttp, RetryPolicy, Vendor

API_PATH = "/v4_6_release/apis/3.0"
ACCEPT = "application/vnd.connectwise.com+json; version=2022.1"
_PAGE_SIZE = 100
_MAX_NOTE_PAGES = 20


@dataclass(frozen=True)
class ConnectWiseSettings:
    base_url: str
    company_id: str
    public_key: str
    private_key: str = field(repr=False)
    client_id: str = ""
    timeout_seconds: float = 15.0


def api_root(base_url: str) -> str:
    url = base_url.rstrip("/")
    return url if "/apis/3.0" in url else url + API_PATH


def _cw_message(payload: Any) -> str:
    """ConnectWise's error body: {"code": "NotFound", "message": "...", "errors": [...]}."""
    if isinstance(payload, Mapping):
        parts = [str(payload[k]) for k in ("code", "message") if payload.get(k)]
        for error in payload.get("errors") or []:
            if isinstance(error, Mapping) and error.get("message"):
                parts.append(str(error["message"]))
        if parts:
            return ": ".join(parts)[:MESSAGE_LIMIT]
    return "no ConnectWise error body"


def _refusal(status: int, where: str, message: str) -> str:
    if status == 401:
        return (
            f"ConnectWise refused the credentials (401) for {where}: {message}; check the "
            "company id, the API member's public and private keys and the client id"
        )
    if status == 403:
        return (
            f"ConnectWise denied {where} (403): {message}; give the API member's security "
            "role Service Desk > Service Tickets (inquire, add, edit) and ticket notes"
        )
    if status == 404:
        return f"ConnectWise answered 404 to {where}: {message}; check the ticket id"
    return f"ConnectWise answered {status} to {where}: {message}"


VENDOR = Vendor(
    "ConnectWise",
    error_message=_cw_message,
    refusal=_refusal,
    not_json_hint="check the base URL (https://<site>/v4_6_release/apis/3.0)",
)


def _note_id(note: Any) -> str | None:
    return ticket_id_of(note.get("id")) if isinstance(note, Mapping) else None


class ConnectWiseClient:
    """One tenant's ConnectWise PSA. Transient failures are retried (backoff + jitter); what
    is left surfaces as TransientError or PermanentError. Messages never carry a key."""

    def __init__(
        self,
        settings: ConnectWiseSettings,
        http: httpx.Client,
        retry: RetryPolicy | None = None,
    ) -> None:
        missing = [
            name
            for name, value in (
                ("company id", settings.company_id),
                ("public key", settings.public_key),
                ("private key", settings.private_key),
                ("client id", settings.client_id),
            )
            if not value
        ]
        if missing:
            raise PermanentError(f"ConnectWise needs the {', '.join(missing)}")
        pair = f"{settings.company_id}+{settings.public_key}:{settings.private_key}"
        self._api = ItsmHttp(
            VENDOR,
            api_root(settings.base_url),
            {
                "Accept": ACCEPT,
                "Authorization": "Basic " + base64.b64encode(pair.encode()).decode(),
                "clientId": settings.client_id,
            },
            http,
            timeout_seconds=settings.timeout_seconds,
            retry=retry,
        )

    def check_credentials(self) -> None:
        """One ticket id (`GET /service/tickets?pageSize=1&fields=id`): proves the keys,
        the client id and the member's right to read tickets."""
        self._list("/service/tickets", {"fields": "id"}, self._call, page_size=1, pages=1)

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        path = self._ticket_path(ticket_id)
        ticket = self._api.call("GET", path)
        notes = self._notes(ticket_id, self._call)
        try:
            return ticket_from_service_ticket(ticket, notes)
        except NormalizationError as exc:
            raise PermanentError(f"ConnectWise ticket {ticket_id} is unreadable: {exc}") from exc

    def find_note(self, ticket_id: str, marker: str) -> str | None:
        return self._find(ticket_id, lambda text: marker in text, self._call)

    def add_note(self, ticket_id: str, body_html: str) -> str:
        """Adds an internal-analysis note; returns its id. A retry after a failure that may
        have landed first looks for a note with the same text."""
        text = html_to_text(body_html)
        note = {
            "text": text,
            "detailDescriptionFlag": False,
            "internalAnalysisFlag": True,
            "resolutionFlag": False,
            "processNotifications": False,
        }
        path = f"{self._ticket_path(ticket_id)}/notes"

        def post() -> str:
            note_id = _note_id(self._api.send("POST", path, json=note))
            if note_id is None:
                raise PermanentError(f"ConnectWise gave no note id for ticket {ticket_id}")
            return note_id

        return self._api.post_once(
            post,
            lambda: self._find(ticket_id, lambda found: found.strip() == text.strip(), self._send),
        )

    # Internals ----------------------------------------------------------------------------

    def _find(
        self, ticket_id: str, matches: Callable[[str], bool], call: Callable[..., Any]
    ) -> str | None:
        for note in self._notes(ticket_id, call, internal_only=True):
            text = note.get("text")
            if isinstance(text, str) and matches(text) and (note_id := _note_id(note)):
                return note_id
        return None

    def _notes(
        self, ticket_id: str, call: Callable[..., Any], *, internal_only: bool = False
    ) -> list[Mapping[str, Any]]:
        params: dict[str, str | int] = {"orderBy": "id asc"}
        if internal_only:
            params["conditions"] = "internalAnalysisFlag=true"
        return self._list(f"{self._ticket_path(ticket_id)}/notes", params, call)

    def _list(
        self,
        path: str,
        params: Mapping[str, str | int],
        call: Callable[..., Any],
        *,
        page_size: int = _PAGE_SIZE,
        pages: int = _MAX_NOTE_PAGES,
    ) -> list[Mapping[str, Any]]:
        found: list[Mapping[str, Any]] = []
        for page in range(1, pages + 1):
            rows = call("GET", path, params={**params, "page": page, "pageSize": page_size})
            if not isinstance(rows, Sequence) or isinstance(rows, str):
                raise PermanentError(
                    f"ConnectWise answered GET {path} with something other than a list; "
                    f"{VENDOR.not_json_hint}"
                )
            found += [row for row in rows if isinstance(row, Mapping)]
            if len(rows) < page_size:
                break
        return found

    def _ticket_path(self, ticket_id: str) -> str:
        clean = ticket_id_of(ticket_id)
        if clean is None:
            raise PermanentError(f"a ConnectWise ticket id is an integer, not {ticket_id!r}")
        return f"/service/tickets/{clean}"

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._api.retrying(lambda: self._send(method, path, **kwargs))

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._api.send_json(method, path, **kwargs)
