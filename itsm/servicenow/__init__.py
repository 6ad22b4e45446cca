"""ServiceNow (Table API; incident, sc_req_item, problem, change_request)."""

from itsm.servicenow.client import AUTH_MODES, ServiceNowClient, ServiceNowSettings
from itsm.servicenow.normalize import TABLES, normalize_webhook, ticket_from_record
from itsm.servicenow.plugin import ServiceNowPlugin

__all__ = [
    "AUTH_MODES",
    "TABLES",
    "ServiceNowClient",
    "ServiceNowPlugin",
    "ServiceNowSettings",
    "normalize_webhook",
    "ticket_from_record",
]
