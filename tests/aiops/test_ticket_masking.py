"""Masking a ticket's text fields (aiops.ticket_masking)."""

from __future__ import annotations

from typing import Any

from aiops.events import Ticket
from aiops.redaction import Redactor
from aiops.ticket_masking import CREDENTIALS, mask_ticket


def test_a_ticket_with_nothing_to_mask_is_returned_itself() -> None:
    ticket = Ticket(
        id="1",
        subject="VPN drops",
        description="Since this morning the VPN client disconnects.",
        priority="High",
        requester="Ann Lee",
        tags=["network"],
        extra={"site": "Berlin", "udf_fields": {"udf_sline_1": "x"}},
    )
    assert mask_ticket(ticket) is ticket


def test_only_the_fields_holding_secrets_change() -> None:
    ticket = Ticket(
        id="1",
        subject="VPN drops",
        description="my password: Hunter2",
        tags=["network", "token=abc123def"],
        extra={"note": "api_key=8f3b2c1d9e7a6b5c4d3e"},
    )
    masked = mask_ticket(ticket)
    assert masked.model_dump() == {
        **ticket.model_dump(),
        "description": "my password: [REDACTED:password]",
        "tags": ["network", "token=[REDACTED:token]"],
        "extra": {"note": "api_key=[REDACTED:api_key]"},
    }
    assert ticket.description == "my password: Hunter2"  # the original is left as it was


_SHORT_FIELDS = (
    "subject",
    "priority",
    "status",
    "category",
    "requester",
    "requester_email",
    "resolution",
)


def test_a_secret_in_any_one_short_field_is_masked_as_that_field_alone_would_be() -> None:
    # The subject and short fields are scanned together first; each is still masked alone.
    for name in _SHORT_FIELDS:
        fields: dict[str, Any] = {n: "High" for n in _SHORT_FIELDS} | {name: "pwd=Summer2024!"}
        ticket = Ticket(id="1", **fields)
        masked = mask_ticket(ticket)
        assert getattr(masked, name) == CREDENTIALS.text("pwd=Summer2024!") != "pwd=Summer2024!"
        others = {n: getattr(ticket, n) for n in _SHORT_FIELDS if n != name}
        assert {n: getattr(masked, n) for n in others} == others


def test_personal_masking_reads_every_short_field() -> None:
    ticket = Ticket(id="1", subject="VPN", requester="Ann Lee", requester_email="ann@example.com")
    masked = mask_ticket(ticket, Redactor(personal=True, names=["Ann Lee"]))
    assert (masked.requester, masked.requester_email) == ("[NAME]", "[EMAIL]")
