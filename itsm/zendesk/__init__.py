"""Zendesk Support: signed trigger and event webhooks, private comments as notes."""

from itsm.zendesk.client import ZendeskClient
from itsm.zendesk.plugin import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ZendeskPlugin,
    signature,
)

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "ZendeskClient",
    "ZendeskPlugin",
    "signature",
]
