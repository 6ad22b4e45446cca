"""The Jira Service Management plugin: webhook verification and normalization, its client.

Trust model. Jira's admin webhooks (System -> WebHooks, Cloud and Data Center) sign the raw
body: `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>`, checked in constant time
against every current secret (two during a rotation). A forged or altered body is refused
(401). The signature covers the body only, not a time or the delivery id
(`X-Atlassian-Webhook-Identifier`, stable across Jira's retries), so a captured delivery
can be resent: resent as it was, it is a duplicate of its delivery id; resent under another
id, ingest's replay check (digest of the signed body) refuses it for the dedupe window;
either way no second note. After that window a resend could at most re-enhance the same
issue once more, with the issue's own text. A tenant may choose the Standard Webhooks
scheme instead (signed id and timestamp, ±5 min), as for any plugin.

Automation for Jira's "Send web request" cannot compute an HMAC. Such a rule sends the
secret itself in the header `X-AIOps-Webhook-Token`, compared in constant time. That is a
bearer secret: anyone who sees one request (a proxy's log, a rule's audit view) can send
any body until the secret is rotated; it rests on TLS and on who may edit the rule.
Bodies from either sender are only ever read as an issue to enhance: nothing in a
webhook can choose the tenant's Jira, credentials or where a note goes but the issue key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from aiops.events import EventKind, Ticket
from itsm.base import ConnectionField, ItsmConnection
from itsm.fields import header_delivery_id
from itsm.http import RetryPolicy
from itsm.jira.client import FLAVORS, JiraClient
from itsm.jira.normalize import normalize_webhook
from itsm.signing import matches_any_secret, matches_token

SIGNATURE_HEADER = "x-hub-signature"
DELIVERY_HEADER = "x-atlassian-webhook-identifier"
TOKEN_HEADER = "x-aiops-webhook-token"

_TEXT = {"type": ["string", "null"]}
_NAMED = {"anyOf": [{"type": "object", "properties": {"name": _TEXT}}, {"type": "null"}]}
_RICH = {
    "description": "Wiki markup (webhooks, REST v2, Data Center) or an Atlassian Document "
    "Format document (Cloud REST v3).",
    "anyOf": [{"type": "string"}, {"type": "object"}, {"type": "null"}],
}
_ISSUE = {
    "type": "object",
    "required": ["key", "fields"],
    "properties": {
        "id": {"type": "string"},
        "key": {"type": "string", "minLength": 1},
        "fields": {
            "type": "object",
            "properties": {
                "summary": {"type": "string"},
                "description": _RICH,
                "priority": _NAMED,
                "status": _NAMED,
                "issuetype": _NAMED,
                "labels": {"type": "array", "items": {"type": "string"}},
                "created": _TEXT,
                "updated": _TEXT,
            },
        },
    },
}
WEBHOOK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A Jira webhook body (Cloud or Data Center). jira:issue_created is "
    "enhanced; a jira:issue_updated that resolves the issue goes to ticket history; other "
    "events are answered 202 and ignored.",
    "properties": {
        "webhookEvent": {"type": "string", "examples": ["jira:issue_created"]},
        "issue_event_type_name": {"type": "string"},
        "timestamp": {"type": "integer"},
        "issue": _ISSUE,
        "changelog": {"type": "object"},
        "comment": {"type": "object"},
    },
}


CONNECTION_FIELDS: tuple[ConnectionField, ...] = (
    ConnectionField(
        "url",
        "the Jira site address",
        "Jira site: on Cloud https://acme.atlassian.net, or the Data Center base URL. "
        "Without it the notes are stored but not posted.",
        target="base_url",
        example="https://acme.atlassian.net",
    ),
    ConnectionField(
        "email",
        "the e-mail of the agent account the API token belongs to",
        "Jira Cloud: the e-mail of the agent account the API token is for.",
        target="username",
        example="agent@acme.example",
        flavors=("cloud",),
    ),
    ConnectionField(
        "token",
        "Jira API token (Cloud: id.atlassian.com > Security > API tokens) or personal "
        "access token (Data Center: Profile > Personal Access Tokens)",
        "Cloud API token or Data Center personal access token. Asked for when left out.",
        target="api_key",
    ),
    ConnectionField(
        "flavor",
        "which Jira",
        "Jira cloud (e-mail + API token) or datacenter (personal access token).",
        target="flavor",
        required=False,
        choices=tuple(FLAVORS),
        default="cloud",
    ),
)


class JiraPlugin:
    name = "jira"
    title = "Jira"
    webhook_schema = WEBHOOK_SCHEMA
    connection_fields = CONNECTION_FIELDS
    signature_header = "X-Hub-Signature"

    def __init__(self, retry: RetryPolicy | None = None) -> None:
        self._retry = retry

    def verify(self, headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> bool:
        signature = headers.get(SIGNATURE_HEADER)
        if signature is not None:
            return matches_any_secret(signature, body, secrets)
        return matches_token(headers.get(TOKEN_HEADER), secrets)

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        return header_delivery_id(headers, DELIVERY_HEADER)

    def delivery_id_in_body(self, payload: Any) -> str | None:
        return None  # only in the headers

    def normalize(self, payload: Any, kind: EventKind | None = None) -> tuple[EventKind, Ticket]:
        return normalize_webhook(payload, kind)

    def client(self, connection: ItsmConnection, http: httpx.Client) -> JiraClient:
        return JiraClient(connection, http, self._retry)

    def setup_steps(self, urls: Mapping[str, str]) -> list[str]:
        return [
            "In Jira: System > WebHooks > Create a WebHook, then",
            f"  URL:     {urls['tickets']}",
            "  Secret:  the signing secret below (Jira signs with X-Hub-Signature)",
            "  JQL:     project = <your service project key>",
            "  Events:  Issue created, Issue updated (resolved issues go to history)",
            "",
            "Automation for Jira (Send web request) cannot sign: send the secret in the header "
            "X-AIOps-Webhook-Token instead; see the README, section Jira Service Management.",
        ]
