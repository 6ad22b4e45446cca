"""Tickets that need no note: auto-replies, out-of-office answers, bounces, newsletters, empty.

Decided from the ticket alone, before any context is gathered or any model is asked. Mail
headers decide first where the ITSM passes them on (the ticket's extra "headers" or
"email_headers", names compared lower-cased): RFC 3834 Auto-Submitted, X-Autoreply and
friends, a multipart/report delivery status, List-Unsubscribe / List-Id and Precedence.
Without headers, text rules look at the subject's start and at shapes that only machines
write (DSN fields, an out-of-office answer with its return date, a newsletter's footer).

A false positive hides a real ticket from the technician's help, a miss costs one useless
note: so each text rule needs the machine's shape, not a topic. "Out of office not working
in Outlook", "FW: Undeliverable: ..." from a user, and "how do I unsubscribe" are tickets;
mail from noreply@ addresses is not noise either (monitoring alerts come from there).
Pure logic, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiops.events import Ticket

NoiseReason = Literal["auto_reply", "out_of_office", "delivery_failure", "newsletter", "empty"]
REASONS: tuple[NoiseReason, ...] = (
    "auto_reply",
    "out_of_office",
    "delivery_failure",
    "newsletter",
    "empty",
)
_HEADER_KEYS = ("headers", "email_headers")
_BODY_CHARS = 4_000


@dataclass(frozen=True)
class Noise:
    reason: NoiseReason
    evidence: str  # which rule decided, for the history row and the operator

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "evidence": self.evidence}


def _headers(ticket: Ticket) -> dict[str, str]:
    for key in _HEADER_KEYS:
        raw: Any = ticket.extra.get(key)
        if isinstance(raw, Mapping):
            return {str(k).lower(): str(v) for k, v in raw.items() if v is not None}
    return {}


def _by_headers(headers: Mapping[str, str]) -> Noise | None:
    auto = headers.get("auto-submitted", "").strip().lower()
    if auto and auto != "no":
        return Noise("auto_reply", f"Auto-Submitted: {auto[:40]}")
    content_type = headers.get("content-type", "").lower()
    if "multipart/report" in content_type and "delivery-status" in content_type:
        return Noise("delivery_failure", "Content-Type: multipart/report; delivery-status")
    if "x-failed-recipients" in headers:
        return Noise("delivery_failure", "X-Failed-Recipients header")
    for name in ("x-autoreply", "x-autorespond", "x-autoresponse"):
        if name in headers and headers[name].strip().lower() not in ("", "no", "false"):
            return Noise("auto_reply", f"{name} header")
    precedence = headers.get("precedence", "").strip().lower()
    if precedence == "auto_reply":
        return Noise("auto_reply", "Precedence: auto_reply")
    if "list-unsubscribe" in headers or "list-id" in headers:
        return Noise("newsletter", "List-Unsubscribe / List-Id header")
    if precedence in ("bulk", "list", "junk"):
        return Noise("newsletter", f"Precedence: {precedence}")
    return None


# A reply or forward written by a person keeps its prefix: "RE: Out of Office" is a person.
_PERSON_PREFIX = re.compile(r"^\s*(re|fw|fwd|aw|wg|tr|sv|vs)\s*:", re.IGNORECASE)
_OOO_SUBJECT = re.compile(
    r"^\s*(out of (the )?office( auto ?reply)?|ooo|abwesenheitsnotiz|absence du bureau"
    r"|fuera de la oficina|afwezig(heidsmelding)?)\s*[:\-]",
    re.IGNORECASE,
)
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|answer)|autosvar|automatisch(e)? antwort"
    r"|r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica)\s*[:\-]",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(undeliverable|undelivered mail returned to sender|delivery status notification"
    r" \((failure|delay)\)|mail delivery (failed|failure|subsystem)|returned mail\s*:"
    r"|delivery (has )?failed|failure notice|unzustellbar|non remis|message not delivered)",
    re.IGNORECASE,
)
_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)
# RFC 3464 per-recipient fields, as a DSN body carries them.
_DSN_FIELDS = (
    re.compile(r"^\s*final-recipient\s*:\s*rfc822\s*;", re.IGNORECASE | re.MULTILINE),
    re.compile(r"^\s*action\s*:\s*(failed|delayed)\b", re.IGNORECASE | re.MULTILINE),
    re.compile(r"^\s*status\s*:\s*[45]\.\d{1,3}\.\d{1,3}\b", re.IGNORECASE | re.MULTILINE),
    re.compile(r"^\s*diagnostic-code\s*:\s*smtp\s*;", re.IGNORECASE | re.MULTILINE),
)
_MTA_BODY = re.compile(
    r"(this is the mail system at host|this is an automatically generated delivery status"
    r" notification|delivery to the following recipients? (failed|has been delayed)"
    r"|your message (to .{1,120} )?(couldn't|could not|wasn't|was not) be(en)? delivered"
    r"|i'm sorry to have to inform you that your message could not)",
    re.IGNORECASE,
)
_AWAY = re.compile(
    r"\b(i am|i'm|i will be|i'll be)\s+(currently\s+)?"
    r"(out of (the )?office|away from (the )?office|on (annual |parental |sick )?leave"
    r"|on vacation|on holiday|out of office)",
    re.IGNORECASE,
)
_RETURN = re.compile(
    r"\b(will be back|will return|returning on|return(ing)? to the office|back in the office"
    r"|back on|limited access to (my )?e-?mail|respond (to your (e-?mail|message) )?(upon|when"
    r"|after) (my )?return|urgent matters?,? please contact)",
    re.IGNORECASE,
)
_UNSUBSCRIBE = re.compile(
    r"(to unsubscribe|unsubscribe from (this|these|our)|click here to unsubscribe"
    r"|unsubscribe here|manage (your )?(e-?mail |subscription )?preferences"
    r"|opt[ -]out of (these|future) e-?mails)",
    re.IGNORECASE,
)
_NEWSLETTER_MARKS = (
    _UNSUBSCRIBE,
    re.compile(r"view (this (e-?mail|message) )?in (your|a) (web )?browser", re.IGNORECASE),
    re.compile(
        r"you (are )?receiv(e|ed|ing) this (e-?mail|message|newsletter)"
        r"|you('re| are) receiving this because",
        re.IGNORECASE,
    ),
    re.compile(r"\bnewsletter\b", re.IGNORECASE),
    re.compile(r"update your subscription|no longer wish to receive", re.IGNORECASE),
)
_WORD = re.compile(r"\w")
_NO_SUBJECT = {"", "(no subject)", "no subject", "(kein betreff)", "(sans objet)"}


def _by_text(ticket: Ticket) -> Noise | None:
    subject = ticket.subject.strip()
    body = ticket.description[:_BODY_CHARS]
    if not _WORD.search(subject) and not _WORD.search(body):
        return Noise("empty", "no words in subject or description")
    if subject.lower() in _NO_SUBJECT and not _WORD.search(body):
        return Noise("empty", "no subject and no description")
    if ticket.requester_email and _BOUNCE_SENDER.match(ticket.requester_email.strip()):
        return Noise("delivery_failure", "sent by the mail system (mailer-daemon/postmaster)")
    by_person = bool(_PERSON_PREFIX.match(subject))
    if not by_person:
        if _BOUNCE_SUBJECT.match(subject):
            return Noise("delivery_failure", "subject of a delivery status notification")
        if _OOO_SUBJECT.match(subject):
            return Noise("out_of_office", "subject of an out-of-office answer")
        if _AUTO_SUBJECT.match(subject):
            # Outlook sends out-of-office answers as "Automatic reply: ...".
            if _AWAY.search(body[:1_000]):
                return Noise("out_of_office", "an automatic reply announcing an absence")
            return Noise("auto_reply", "subject of an automatic reply")
        dsn = sum(1 for field in _DSN_FIELDS if field.search(body))
        if dsn >= 2 or (dsn >= 1 and _MTA_BODY.search(body)):
            return Noise("delivery_failure", "delivery status fields in the body (RFC 3464)")
    if _AWAY.search(body[:1_000]) and _RETURN.search(body[:1_500]) and "?" not in body[:1_500]:
        return Noise("out_of_office", "an absence with a return date, and no question")
    marks = sum(1 for mark in _NEWSLETTER_MARKS if mark.search(body))
    if marks >= 2 and _UNSUBSCRIBE.search(body):
        return Noise("newsletter", "an unsubscribe footer with other newsletter marks")
    return None


def classify(ticket: Ticket) -> Noise | None:
    """Why this ticket needs no note, or None when it is (or may be) a real request."""
    headers = _headers(ticket)
    if headers:
        found = _by_headers(headers)
        if found is not None:
            return found
    return _by_text(ticket)
