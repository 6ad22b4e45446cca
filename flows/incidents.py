"""Ongoing incidents: a new ticket that resembles tickets the tenant opened minutes ago.

Two tickets resemble each other when they name the same host or IP address
(flows.extract), carry the same error code, or are about the same service. Host and error
are specific: one earlier ticket is enough. A service alone ("VPN", "Outlook") is common
at an MSP: it takes at least MIN_SERVICE_MATCHES earlier tickets within the window. Pure
logic; the caller supplies the recent tickets, with the signature each had on arrival
(computing one costs a few hundred microseconds of CPU: once per ticket, not per look).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flows.extract import Mentions, find_mentions

MIN_SERVICE_MATCHES = 2
_SHOWN_IDS = 5

# Error shapes technicians and systems paste: Windows HRESULT/NTSTATUS, "error 1603",
# HTTP 5xx with its word, SMTP enhanced codes, ORA-/SQLSTATE-style codes, exception names.
# One pattern, one pass: the code is the named group that matched. Both patterns below
# run over the lower-cased text: the same matches as IGNORECASE at a third of the CPU.
_ERRORS = re.compile(
    r"(?P<hex>\b0x[0-9a-f]{8}\b)"
    r"|\b(?:error|err|code|event id)[\s:#]*(?P<num>\d{3,6})\b"
    r"|\b(?:http\s*)?(?P<http>5\d\d)\s+(?:internal server error|bad gateway"
    r"|service unavailable|gateway time-?out)\b"
    r"|\b(?:smtp|status|code)[\s:#]*(?P<smtp>[45]\.\d\.\d{1,3})\b"
    r"|(?P<vendor>\b(?:ora|sql|ad|kb)-?\d{4,6}\b)"
)
# Exception names are case-sensitive (NullPointerException, not "error").
_EXCEPTION = re.compile(r"\b[A-Z][A-Za-z]+(?:Exception|Error)\b")
# Services by the words tickets use for them; a ticket may be about several. One pattern
# whose named group says which service matched.
_SERVICE_WORDS = {
    "vpn": r"vpn|anyconnect|globalprotect|forticlient|wireguard",
    "email": r"outlook|exchange|e-?mails?|mailbox|smtp|imap",
    "teams": r"(?:ms |microsoft )?teams",
    "sharepoint": r"sharepoint|onedrive",
    "printing": r"printers?|printing|print queue|spooler",
    "file_share": r"file share|network drive|mapped drive|nas",
    "network": r"wi-?fi|wlan|internet|network|switch|firewall|dhcp",
    "dns": r"dns",
    "remote_desktop": r"rdp|remote desktop|citrix|terminal server|avd",
    # Not "password": resets are routine, several an hour is no incident.
    "login": r"log ?in|sign ?in|mfa|2fa|authenticat\w*|account locked",
    "erp": r"erp|sap|dynamics|navision|datev",
    "phones": r"phones?|telephony|voip|3cx|softphone",
}
# Every service word starts with a letter or digit: the lookahead skips the word ends
# that `\b` alone would try every alternative at.
_SERVICES = re.compile(
    r"\b(?=[a-z0-9])(?:"
    + "|".join(f"(?P<{name}>{words})" for name, words in _SERVICE_WORDS.items())
    + r")\b"
)


@dataclass(frozen=True)
class Signature:
    hosts: frozenset[str] = frozenset()
    errors: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        """No host, error or service: resembles no other ticket."""
        return not (self.hosts or self.errors or self.services)

    def as_dict(self) -> dict[str, list[str]]:
        return {k: sorted(getattr(self, k)) for k in ("hosts", "errors", "services")}

    @classmethod
    def from_dict(cls, raw: Any) -> Signature | None:
        """A stored signature, or None when `raw` is not one (then the text is used)."""
        if not isinstance(raw, dict):
            return None
        parts = [raw.get(k) for k in ("hosts", "errors", "services")]
        if not all(isinstance(p, list) and all(isinstance(v, str) for v in p) for p in parts):
            return None
        return cls(*(frozenset(p) for p in parts))  # type: ignore[arg-type]


@dataclass(frozen=True)
class RecentTicket:
    ticket_id: str
    text: str
    received_at: datetime
    signature: Signature | None = None  # as stored when it arrived; else made from text


@dataclass(frozen=True)
class Incident:
    related: tuple[str, ...]  # earlier ticket ids, oldest first
    tickets: int  # this one included
    minutes: int  # from the oldest related ticket to this one
    shared: tuple[str, ...] = field(default=())  # e.g. "host srv-dc01", "error 0x80070005"

    def note_line(self) -> str:
        shown = ", ".join(f"#{t}" for t in self.related[-_SHOWN_IDS:])
        hidden = len(self.related) - _SHOWN_IDS
        more = f" and {hidden} more" if hidden > 0 else ""
        same = f" (same {', '.join(self.shared)})" if self.shared else ""
        return (
            f"Possibly the same incident as {shown}{more}: {self.tickets} tickets in "
            f"{self.minutes} minutes{same}."
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "related": list(self.related),
            "tickets": self.tickets,
            "minutes": self.minutes,
            "shared": list(self.shared),
        }


def signature(text: str, mentions: Mentions | None = None) -> Signature:
    """What makes two tickets the same incident; `mentions` if the caller found them."""
    mentions = mentions if mentions is not None else find_mentions(text)
    lowered = text.lower()
    errors = {m.group(m.lastgroup or 0) for m in _ERRORS.finditer(lowered)}
    errors.update(m.group().lower() for m in _EXCEPTION.finditer(text))
    services = {m.lastgroup.replace("_", " ") for m in _SERVICES.finditer(lowered) if m.lastgroup}
    return Signature(
        frozenset((*mentions.hostnames, *mentions.ips)), frozenset(errors), frozenset(services)
    )


def find_incident(
    mine: Signature, received_at: datetime, recent: Sequence[RecentTicket]
) -> Incident | None:
    """The earlier tickets this one resembles, when they make an incident; else None."""
    if mine.empty:
        return None
    strong: list[RecentTicket] = []
    by_service: list[RecentTicket] = []
    shared: set[str] = set()
    common_services = set(mine.services)
    for other in recent:
        theirs = other.signature or signature(other.text)
        hosts, errors = mine.hosts & theirs.hosts, mine.errors & theirs.errors
        if hosts or errors:
            strong.append(other)
            shared.update(f"host {h}" for h in hosts)
            shared.update(f"error {e}" for e in errors)
        elif mine.services & theirs.services:
            by_service.append(other)
            common_services &= theirs.services
    related = list(strong)
    if len(by_service) >= MIN_SERVICE_MATCHES or (strong and by_service):
        related += by_service
        if not strong:
            shared.update(f"service {s}" for s in common_services)
    if not related:
        return None
    related.sort(key=lambda t: t.received_at)
    minutes = max(1, round((received_at - related[0].received_at).total_seconds() / 60))
    return Incident(
        tuple(dict.fromkeys(t.ticket_id for t in related)),
        len({t.ticket_id for t in related}) + 1,
        minutes,
        tuple(sorted(shared))[:4],
    )
