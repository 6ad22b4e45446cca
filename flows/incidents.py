"""Ongoing incidents: a new ticket that resembles tickets the tenant opened minutes ago.

Two tickets resemble each other when they name the same host or IP address
(flows.extract), carry the same error code, or are about the same service. Host and error
are specific: one earlier ticket is enough. A service alone ("VPN", "Outlook") is common
at an MSP: it takes at least MIN_SERVICE_MATCHES earlier tickets within the window. Pure
logic; the caller supplies the recent tickets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from flows.extract import find_mentions

MIN_SERVICE_MATCHES = 2
_SHOWN_IDS = 5

# Error shapes technicians and systems paste: Windows HRESULT/NTSTATUS, "error 1603",
# HTTP 5xx with its word, SMTP enhanced codes, ORA-/SQLSTATE-style codes, exception names.
_ERRORS = (
    re.compile(r"\b0x[0-9a-f]{8}\b", re.IGNORECASE),
    re.compile(r"\b(?:error|err|code|event id)[\s:#]*(\d{3,6})\b", re.IGNORECASE),
    re.compile(
        r"\b(?:http\s*)?(5\d\d)\s+(?:internal server error|bad gateway|service unavailable"
        r"|gateway time-?out)\b",
        re.IGNORECASE,
    ),
    re.compile(r"\b(?:smtp|status|code)[\s:#]*([45]\.\d\.\d{1,3})\b", re.IGNORECASE),
    re.compile(r"\b(?:ora|sql|ad|kb)-?\d{4,6}\b", re.IGNORECASE),
    re.compile(r"\b[A-Z][A-Za-z]+(?:Exception|Error)\b"),
)
# Services by the words tickets use for them; a ticket may be about several.
_SERVICES: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.IGNORECASE)
    for name, pattern in {
        "vpn": r"\b(vpn|anyconnect|globalprotect|forticlient|wireguard)\b",
        "email": r"\b(outlook|exchange|e-?mails?|mailbox|smtp|imap)\b",
        "teams": r"\b(ms |microsoft )?teams\b",
        "sharepoint": r"\b(sharepoint|onedrive)\b",
        "printing": r"\b(printers?|printing|print queue|spooler)\b",
        "network": r"\b(wi-?fi|wlan|internet|network|switch|firewall|dhcp)\b",
        "dns": r"\bdns\b",
        "remote desktop": r"\b(rdp|remote desktop|citrix|terminal server|avd)\b",
        "login": r"\b(log ?in|sign ?in|password|mfa|2fa|authenticat\w*|account locked)\b",
        "file share": r"\b(file share|network drive|mapped drive|nas)\b",
        "erp": r"\b(erp|sap|dynamics|navision|datev)\b",
        "phones": r"\b(phones?|telephony|voip|3cx|softphone)\b",
    }.items()
}


@dataclass(frozen=True)
class Signature:
    hosts: frozenset[str] = frozenset()
    errors: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RecentTicket:
    ticket_id: str
    text: str
    received_at: datetime


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


def signature(text: str) -> Signature:
    mentions = find_mentions(text)
    errors: set[str] = set()
    for pattern in _ERRORS:
        for match in pattern.finditer(text):
            errors.add((match.group(1) if match.groups() else match.group()).lower())
    services = {name for name, pattern in _SERVICES.items() if pattern.search(text)}
    return Signature(
        frozenset((*mentions.hostnames, *mentions.ips)), frozenset(errors), frozenset(services)
    )


def find_incident(
    text: str, received_at: datetime, recent: Sequence[RecentTicket]
) -> Incident | None:
    """The earlier tickets this one resembles, when they make an incident; else None."""
    mine = signature(text)
    if not (mine.hosts or mine.errors or mine.services):
        return None
    strong: list[RecentTicket] = []
    by_service: list[RecentTicket] = []
    shared: set[str] = set()
    common_services = set(mine.services)
    for other in recent:
        theirs = signature(other.text)
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
