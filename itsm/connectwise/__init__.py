"""ConnectWise PSA (Manage REST API 3.0): ticket callbacks, internal-analysis notes."""

from itsm.connectwise.client import ConnectWiseClient, ConnectWiseSettings, api_root
from itsm.connectwise.normalize import (
    is_closed,
    normalize_callback,
    pointer_ticket,
    ticket_from_service_ticket,
)
from itsm.connectwise.plugin import ConnectWisePlugin

__all__ = [
    "ConnectWiseClient",
    "ConnectWisePlugin",
    "ConnectWiseSettings",
    "api_root",
    "is_closed",
    "normalize_callback",
    "pointer_ticket",
    "ticket_from_service_ticket",
]
