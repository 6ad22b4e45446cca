"""Jira Service Management (Cloud and Data Center)."""

from itsm.jira.client import FLAVORS, JiraClient, render_comment
from itsm.jira.normalize import normalize_webhook, ticket_from_issue
from itsm.jira.plugin import DELIVERY_HEADER, SIGNATURE_HEADER, TOKEN_HEADER, JiraPlugin

__all__ = [
    "DELIVERY_HEADER",
    "FLAVORS",
    "SIGNATURE_HEADER",
    "TOKEN_HEADER",
    "JiraClient",
    "JiraPlugin",
    "normalize_webhook",
    "render_comment",
    "ticket_from_issue",
]
