"""Freshservice: Workflow Automator webhooks with a bearer secret, private notes."""

from itsm.freshservice.client import FreshserviceClient
from itsm.freshservice.plugin import DELIVERY_HEADER, TOKEN_HEADER, FreshservicePlugin

__all__ = ["DELIVERY_HEADER", "TOKEN_HEADER", "FreshserviceClient", "FreshservicePlugin"]
