"""Noise rules: each kind is caught in its real-world shape, and real tickets that talk
about the same things are not (false positives hide a ticket from help)."""

from __future__ import annotations

from typing import Any

import pytest

from aiops.events import Ticket
from flows.noise import classify


def _ticket(subject: str, description: str = "", **fields: Any) -> Ticket:
    return Ticket(id="1", subject=subject, description=description, **fields)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Auto-Submitted": "auto-replied"}, "auto_reply"),
        ({"auto-submitted": "auto-generated"}, "auto_reply"),
        ({"X-Autoreply": "yes"}, "auto_reply"),
        ({"Precedence": "auto_reply"}, "auto_reply"),
        (
            {"Content-Type": 'multipart/report; report-type=delivery-status; boundary="x"'},
            "delivery_failure",
        ),
        ({"X-Failed-Recipients": "bob@example.com"}, "delivery_failure"),
        ({"List-Unsubscribe": "<mailto:leave@lists.example.com>"}, "newsletter"),
        ({"Precedence": "bulk"}, "newsletter"),
    ],
)
def test_mail_headers_decide_first(headers: dict[str, str], reason: str) -> None:
    ticket = _ticket("Printer on 2nd floor jammed", "It is jammed.", extra={"headers": headers})
    found = classify(ticket)
    assert found is not None and found.reason == reason


def test_auto_submitted_no_is_a_person() -> None:
    ticket = _ticket("VPN down", "Cannot connect", extra={"headers": {"Auto-Submitted": "no"}})
    assert classify(ticket) is None


@pytest.mark.parametrize(
    ("subject", "body", "reason"),
    [
        (
            "Automatic reply: Password reset",
            "I am out of the office until 3 June.",
            "out_of_office",
        ),
        ("Out of Office: Server outage", "", "out_of_office"),
        ("Auto-Reply: your request", "Thank you for your message.", "auto_reply"),
        ("Abwesenheitsnotiz: Drucker", "Ich bin bis Montag nicht im Büro.", "out_of_office"),
        (
            "Re: laptop order",
            "Hello, I am currently out of the office and will return on Monday 12 May with "
            "limited access to email.",
            "out_of_office",
        ),
        (
            "Undeliverable: Invoice 4711",
            "Delivery has failed to these recipients.",
            "delivery_failure",
        ),
        (
            "Undelivered Mail Returned to Sender",
            "This is the mail system at host mx1.example.net.",
            "delivery_failure",
        ),
        (
            "Message status",
            "Final-Recipient: rfc822; bob@example.com\nAction: failed\nStatus: 5.1.1\n"
            "Diagnostic-Code: smtp; 550 5.1.1 user unknown",
            "delivery_failure",
        ),
        (
            "Our March product news",
            "New features this month... View this email in your browser. "
            "To unsubscribe from this list click here.",
            "newsletter",
        ),
        ("", "", "empty"),
        ("   ", "\n-- \n", "empty"),
        ("(no subject)", "", "empty"),
    ],
)
def test_text_rules_catch_machine_shapes(subject: str, body: str, reason: str) -> None:
    found = classify(_ticket(subject, body))
    assert found is not None and found.reason == reason, found


def test_mail_from_the_mail_system_is_a_bounce() -> None:
    ticket = _ticket("Warning", "could not deliver", requester_email="MAILER-DAEMON@mx.example")
    found = classify(ticket)
    assert found is not None and found.reason == "delivery_failure"


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Out of office not working in Outlook", "My automatic replies are not sent."),
        ("Set up out of office for Anna", "She is on leave from Monday, please set it up."),
        (
            "FW: Undeliverable: Quote for ACME",
            "Hi, I keep getting this when mailing ACME, can you check?\n\n"
            "Final-Recipient: rfc822; sales@acme.example\nAction: failed\nStatus: 5.7.1",
        ),
        ("How do I unsubscribe from the vendor newsletter?", "They keep sending it to me."),
        (
            "Leaving for holiday",
            "I will be on holiday from Friday and will return on the 20th. Can you make sure "
            "my VPN token works before then?",
        ),
        ("VPN down", ""),
        ("Disk full on SRV-FS01", "Monitoring: C: at 98%. noreply alert."),
        ("Emails bouncing", "Mail delivery failed for every message to gmail since 9am."),
    ],
)
def test_real_tickets_about_the_same_things_are_not_noise(subject: str, body: str) -> None:
    assert classify(_ticket(subject, body)) is None


def test_an_alert_from_a_noreply_address_is_a_ticket() -> None:
    ticket = _ticket(
        "CRITICAL: SRV-DB02 CPU load", "Load 14.2 for 15 min", requester_email="noreply@prtg.local"
    )
    assert classify(ticket) is None
