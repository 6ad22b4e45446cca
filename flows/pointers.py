"""Events whose webhook only named a ticket (`Event.fetch`, ConnectWise callbacks): the
ticket is read from the tenant's ITSM in the flow, and only what was read is used. A
created pointer becomes an ordinary event (process_event enhances what was read); a
resolved one goes to flows.pointed_history.
"""

from __future__ import annotations

from aiops.events import Event
from aiops.ticket_masking import mask_credentials
from itsm.base import ItsmClient


def read_pointed(event: Event, client: ItsmClient) -> Event:
    """The event with the ticket as the ITSM has it now (credentials masked, as ingest
    masks a webhook's), no longer a pointer."""
    ticket = client.fetch_ticket(event.ticket.id)
    return mask_credentials(event.model_copy(update={"ticket": ticket, "fetch": False}))
