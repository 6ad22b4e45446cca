"""ServiceDesk Plus v3 REST client: fetch a request, find and add internal notes.

On-premises and Cloud speak the same v3 API with three differences: the auth header
(`authtoken: <key>` vs `Authorization: Zoho-oauthtoken <key>`), the note wrapper key
(`note` vs `request_note`) and the note list key (`notes` vs `request_notes`). Both take
form-encoded `input_data=<json>` and want the v3 Accept header.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from aiops.errors import PermanentError
from aiops.events import Ticket
from itsm.base import ItsmConnection, NormalizationError
from itsm.html_text import html_to_text
from itsm.http import MESSAGE_LIMIT, ItsmHttp, RetryPolicy, Vendor
from itsm.servicedesk.normalize import ticket_from_request

ACCEPT = "application/vnd.manageengine.sdp.v3+json"
_PAGE_SIZE = 100  # the v3 maximum row_count
_MAX_NOTE_PAGES = 20
# Read under either name: the flavor's own first, but editions are not consistent.
_NOTE_KEYS = ("note", "request_note")
_NOTES_KEYS = ("notes", "request_notes")


@dataclass(frozen=True)
class Flavor:
    name: str
    auth_header: str
    auth_scheme: str  # prefix before the key in the auth header
    note_key: str


FLAVORS: dict[str, Flavor] = {
    "onprem": Flavor("onprem", "authtoken", "", "note"),
    "cloud": Flavor("cloud", "Authorization", "Zoho-oauthtoken ", "request_note"),
}


def _sdp_message(payload: Any) -> str:
    """The first message in an SDP v3 `response_status` (an object, or a list for lists)."""
    if not isinstance(payload, Mapping):
        return "no SDP v3 response body"
    statuses = payload.get("response_status")
    for status in statuses if isinstance(statuses, list) else [statuses]:
        if not isinstance(status, Mapping):
            continue
        for message in status.get("messages") or []:
            if isinstance(message, Mapping) and message.get("message"):
                code = message.get("status_code")
                return f"{message['message']} (status_code {code})"[:MESSAGE_LIMIT]
        if status.get("status"):
            return f"status {status['status']} (status_code {status.get('status_code')})"
    return "no response_status"


def _sdp_failed(payload: Mapping[str, Any]) -> bool:
    statuses = payload.get("response_status")
    for status in statuses if isinstance(statuses, list) else [statuses]:
        if isinstance(status, Mapping):
            code = status.get("status_code")
            if status.get("status") == "failed" or (isinstance(code, int) and code >= 4000):
                return True
    return False


def _first_of(payload: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    return next((payload[key] for key in keys if key in payload), None)


def _note_id(note: Any) -> str | None:
    if isinstance(note, Mapping):
        value = note.get("id")
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def _refusal(status: int, where: str, message: str) -> str:
    if status == 401:
        return (
            f"ServiceDesk Plus refused the credentials (401) for {where}: {message}; "
            "check the tenant's API key and flavor"
        )
    return f"ServiceDesk Plus answered {status} to {where}: {message}"


VENDOR = Vendor(
    "ServiceDesk Plus",
    error_message=_sdp_message,
    refusal=_refusal,
    not_json_hint="check the base URL (the v3 API answers JSON)",
)


class ServiceDeskClient:
    """One tenant's ServiceDesk Plus. Transient failures are retried here (backoff + jitter);
    what is left surfaces as TransientError or PermanentError. Messages never carry the key."""

    def __init__(
        self,
        connection: ItsmConnection,
        http: httpx.Client,
        retry: RetryPolicy | None = None,
    ) -> None:
        flavor = FLAVORS.get(connection.flavor or "")
        if flavor is None:
            raise PermanentError(
                f"ServiceDesk Plus flavor must be one of {', '.join(FLAVORS)}, "
                f"not {connection.flavor!r}"
            )
        self._flavor = flavor
        self._api = ItsmHttp(
            VENDOR,
            connection.base_url,
            {"Accept": ACCEPT, flavor.auth_header: f"{flavor.auth_scheme}{connection.api_key}"},
            http,
            timeout_seconds=connection.timeout_seconds,
            retry=retry,
        )

    def check_credentials(self) -> None:
        """One page of one request (`GET /api/v3/requests`): the cheapest authenticated read
        v3 documents, and one every technician may make."""
        list_info = {"list_info": {"row_count": 1, "start_index": 1}}
        self._call("GET", "/api/v3/requests", params={"input_data": json.dumps(list_info)})

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        payload = self._call("GET", self._request_path(ticket_id))
        try:
            return ticket_from_request(payload.get("request"))
        except NormalizationError as exc:
            message = f"ServiceDesk Plus request {ticket_id} is unreadable: {exc}"
            raise PermanentError(message) from exc

    def find_note(self, ticket_id: str, marker: str) -> str | None:
        return self._find_note(
            ticket_id, lambda html: marker in html or marker in html_to_text(html), self._call
        )

    def add_note(self, ticket_id: str, body_html: str) -> str:
        """Posts an internal note; returns its id.

        A retry after a failure that may have taken effect (timeout, reset, 5xx) first looks
        for a note with the same text, so a slow ServiceDesk never gets the note twice.
        """
        path = f"{self._request_path(ticket_id)}/notes"
        form = {
            "input_data": json.dumps(
                {
                    self._flavor.note_key: {
                        "description": body_html,
                        "show_to_requester": False,
                        "notify_technician": False,
                        "mark_first_response": False,
                        "add_to_linked_requests": False,
                    }
                }
            )
        }
        wanted = html_to_text(body_html)

        def post() -> str:
            note_id = _note_id(_first_of(self._send("POST", path, data=form), _NOTE_KEYS))
            if note_id is None:
                raise PermanentError(f"ServiceDesk Plus gave no note id for request {ticket_id}")
            return note_id

        return self._api.post_once(
            post,
            lambda: self._find_note(
                ticket_id, lambda html: html_to_text(html) == wanted, self._send
            ),
        )

    def _find_note(
        self,
        ticket_id: str,
        matches: Callable[[str], bool],
        call: Callable[..., Mapping[str, Any]],
    ) -> str | None:
        path = f"{self._request_path(ticket_id)}/notes"
        for page in range(_MAX_NOTE_PAGES):
            list_info = {"row_count": _PAGE_SIZE, "start_index": page * _PAGE_SIZE + 1}
            listing = call("GET", path, params={"input_data": json.dumps({"list_info": list_info})})
            notes = _first_of(listing, _NOTES_KEYS)
            for note in notes if isinstance(notes, list) else []:
                note_id = _note_id(note)
                if note_id is None:
                    continue
                description = note.get("description")
                if not isinstance(description, str):
                    # List entries may leave the body out; the single-note read has it.
                    single = _first_of(call("GET", f"{path}/{quote(note_id, safe='')}"), _NOTE_KEYS)
                    description = single.get("description") if isinstance(single, Mapping) else None
                if isinstance(description, str) and matches(description):
                    return note_id
            more = listing.get("list_info")
            if not (isinstance(more, Mapping) and more.get("has_more_rows") is True):
                return None
        return None

    def _request_path(self, ticket_id: str) -> str:
        if not ticket_id:
            raise PermanentError("a ServiceDesk Plus request id is required")
        return f"/api/v3/requests/{quote(ticket_id, safe='')}"

    def _call(self, method: str, path: str, **kwargs: Any) -> Mapping[str, Any]:
        return self._api.retrying(lambda: self._send(method, path, **kwargs))

    def _send(self, method: str, path: str, **kwargs: Any) -> Mapping[str, Any]:
        """A v3 answer can be HTTP 200 and still a failure in its response_status."""
        payload = self._api.send(method, path, **kwargs)
        if _sdp_failed(payload):
            where = f"{method} {path}"
            raise PermanentError(f"ServiceDesk Plus failed {where}: {_sdp_message(payload)}")
        return payload
