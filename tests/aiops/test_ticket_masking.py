"""Masking a ticket's text fields (aiops.ticket_masking)."""

from __future__ import annotations

from aiops.events import Ticket
from aiops.ticket_masking import mask_ticket


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
