"""ServiceDesk Plus (on-premises and Cloud, REST API v3)."""

from itsm.servicedesk.client import FLAVORS, ServiceDeskClient
from itsm.servicedesk.normalize import normalize_webhook, ticket_from_request
from itsm.servicedesk.plugin import DELIVERY_HEADER, SIGNATURE_HEADER, ServiceDeskPlugin

__all__ = [
    "DELIVERY_HEADER",
    "FLAVORS",
    "SIGNATURE_HEADER",
    "ServiceDeskClient",
    "ServiceDeskPlugin",
    "normalize_webhook",
    "ticket_from_request",
]
