"""The ServiceNow plugin: webhook verification and normalization, and its client.

ServiceNow has no signed outbound webhook of its own. The README ("ServiceNow") gives the
admin an after-business-rule on the chosen table that calls a script include; the script
serializes the record once, signs exactly those bytes and sends them with RESTMessageV2:

    var AIOpsWebhook = Class.create();
    AIOpsWebhook.prototype = {
        initialize: function() {},
        send: function(current, event) {
            var fields = ['sys_id', 'number', 'short_description', 'description',
                'priority', 'state', 'category', 'subcategory', 'caller_id',
                'requested_for', 'opened_by', 'assignment_group', 'assigned_to',
                'cmdb_ci', 'impact', 'urgency', 'active', 'close_code', 'close_notes',
                'fix_notes', 'sys_created_on', 'sys_updated_on', 'resolved_at',
                'closed_at', 'sys_class_name'];
            var record = {};
            for (var i = 0; i < fields.length; i++) {
                var f = fields[i];
                if (current.isValidField(f))
                    record[f] = {value: current.getValue(f) || '',
                                 display_value: current.getDisplayValue(f) || ''};
            }
            var body = JSON.stringify({event: event, table: current.getTableName(),
                                       record: record});
            var stamp = '' + Math.floor(new GlideDateTime().getNumericValue() / 1000);
            var delivery = current.getUniqueValue() + '-' + current.getValue('sys_mod_count');
            var secret = gs.getProperty('x_aiops.webhook_secret');  // type password2
            var mac = new GlideCertificateEncryption().generateMac(
                GlideStringUtil.base64Encode(secret), 'HmacSHA256',
                stamp + '.' + delivery + '.' + body);
            var rest = new sn_ws.RESTMessageV2();
            // x_aiops.webhook_url: https://<ingest host>/webhook/servicenow?tenant=<id>
            rest.setEndpoint(gs.getProperty('x_aiops.webhook_url'));
            rest.setHttpMethod('post');
            rest.setRequestHeader('Content-Type', 'application/json');
            rest.setRequestHeader('X-AIOps-Timestamp', stamp);
            rest.setRequestHeader('X-AIOps-Delivery-Id', delivery);
            rest.setRequestHeader('X-AIOps-Signature', 'v1=' + mac);
            rest.setRequestBody(body);
            rest.executeAsync();  // never holds up the user's save
        },
        type: 'AIOpsWebhook'
    };

and the business rule (When: after, Insert and Update, Advanced):

    (function executeRule(current, previous) {
        var hook = new AIOpsWebhook();
        if (current.operation() == 'insert') { hook.send(current, 'created'); return; }
        var resolvedNow = current.isValidField('resolved_at') &&
            current.resolved_at.changes() && !current.resolved_at.nil();
        if (resolvedNow || current.active.changesTo(false)) hook.send(current, 'resolved');
    })(current, previous);

`generateMac` takes the key base64-encoded and returns the base64 HMAC-SHA256 of the data's
UTF-8 bytes: it computes `base64(HMAC-SHA256(secret, "{timestamp}.{delivery id}.{body}"))`,
which itsm.servicenow.signing checks on the raw bytes we receive.

Choices, and why. Incidents first: the rule goes on `incident` unless the tenant picks
sc_req_item, problem or change_request (one table per tenant, as one assignment group
works one queue). Work notes, never comments: comments e-mail the caller. The rule fires
on insert and on the update that makes the record inactive, not on every update, so our
own work note does not send a webhook back (and if an admin widens it, an "updated" body
of an open record is ignored). The secret lives in a password2 system property, which is
encrypted in the instance and hidden from the form, rather than in the script.

Trust model. Only a holder of the tenant's secret can make a body we accept: the HMAC
covers the timestamp, the delivery id and every byte of the body, checked in constant time
against each current secret (two during a rotation); a static header alone is never
enough. A captured delivery replays only inside ±5 minutes of its timestamp, and then it
is a duplicate of its delivery id (record sys_id + sys_mod_count), or, resent under another
id, a replay of the same signed digest: either way no second note. A forged body cannot
choose the instance, the credentials or where a note goes, only which record of the
tenant's own table is enhanced. What it cannot protect: whoever can edit the business rule
or read the system property can sign anything; that is the ServiceNow admin's trust.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from aiops.events import EventKind, Ticket
from itsm.base import ConnectionField, ItsmConnection
from itsm.fields import header_delivery_id
from itsm.http import RetryPolicy
from itsm.servicenow import signing
from itsm.servicenow.client import AUTH_MODES, ServiceNowClient, ServiceNowSettings, TokenCache
from itsm.servicenow.normalize import TABLES, normalize_webhook

_FIELD = {
    "anyOf": [
        {"type": "string"},
        {
            "type": "object",
            "properties": {"value": {"type": "string"}, "display_value": {"type": "string"}},
        },
    ]
}
WEBHOOK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The body of the AIOpsWebhook script include (README, ServiceNow): the "
    'record\'s fields as {value, display_value}. A Table API body {"result": {...}} is '
    "read too.",
    "properties": {
        "event": {"enum": ["created", "updated", "resolved"]},
        "table": {"enum": ["incident", "sc_req_item", "problem", "change_request"]},
        "record": {
            "type": "object",
            "required": ["sys_id"],
            "properties": {
                name: _FIELD
                for name in (
                    "sys_id",
                    "number",
                    "short_description",
                    "description",
                    "priority",
                    "state",
                    "caller_id",
                    "close_notes",
                    "sys_created_on",
                    "sys_updated_on",
                )
            },
        },
    },
}


CONNECTION_FIELDS: tuple[ConnectionField, ...] = (
    ConnectionField(
        "url",
        "the ServiceNow instance address",
        "Instance address. Without it the notes are stored but not posted.",
        target="base_url",
        example="https://it.service-now.com",
    ),
    ConnectionField(
        "user",
        "the integration user's name (User ID)",
        "User ID of the integration user (web service access only, role itil).",
        target="username",
        example="aiops.integration",
    ),
    ConnectionField(
        "password",
        "the integration user's password",
        "The integration user's password. Asked for when left out.",
        target="api_key",
    ),
    ConnectionField(
        "auth",
        "how to authenticate",
        "basic (user and password) or oauth (password grant at /oauth_token.do, with the "
        "client id and secret of an OAuth API endpoint).",
        required=False,
        choices=AUTH_MODES,
        default="basic",
    ),
    ConnectionField(
        "table",
        "which records to enhance",
        # The values are in the help, not `choices`: their list would squeeze the option
        # names out of --help at 80 columns. The client refuses any other table.
        f"The table the business rule runs on: {', '.join(TABLES)}.",
        required=False,
        default="incident",
    ),
    ConnectionField(
        "client_id",
        "the OAuth client id",
        "OAuth only: Client ID of the OAuth API endpoint (System OAuth > Application Registry).",
        required=False,
    ),
    ConnectionField(
        "client_secret",
        "the OAuth client secret",
        "OAuth only: Client Secret of that endpoint.",
        target="secret",
        required=False,
    ),
)


class ServiceNowPlugin:
    name = "servicenow"
    title = "ServiceNow"
    webhook_schema = WEBHOOK_SCHEMA
    connection_fields = CONNECTION_FIELDS
    signature_header = "X-AIOps-Signature"

    def __init__(self, retry: RetryPolicy | None = None) -> None:
        self._retry = retry
        self._tokens = TokenCache()  # OAuth tokens shared by this process's clients

    def verify(self, headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> bool:
        return signing.verify(headers, body, secrets, now=time.time())

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        return header_delivery_id(headers, signing.DELIVERY_HEADER)

    def delivery_id_in_body(self, payload: Any) -> str | None:
        return None  # the signed X-AIOps-Delivery-Id header carries it

    def normalize(self, payload: Any, kind: EventKind | None = None) -> tuple[EventKind, Ticket]:
        return normalize_webhook(payload, kind)

    def client(self, connection: ItsmConnection, http: httpx.Client) -> ServiceNowClient:
        return ServiceNowClient(settings_from(connection), http, self._retry, tokens=self._tokens)

    def setup_steps(self, urls: Mapping[str, str]) -> list[str]:
        return [
            "ServiceNow sends no signed webhook of its own: add the AIOpsWebhook script",
            "include and business rule (README, ServiceNow; itsm/servicenow/plugin.py), and",
            "these system properties:",
            f"  x_aiops.webhook_url (string):       {urls['tickets']}",
            "  x_aiops.webhook_secret (password2):  the signing secret below",
            "",
            "It signs X-AIOps-Signature = v1=base64(HMAC-SHA256(secret,",
            '"<unix time>.<delivery id>.<body>")), checked within ±5 minutes.',
        ]


def settings_from(connection: ItsmConnection) -> ServiceNowSettings:
    options = connection.options
    auth = options.get("auth", "basic")
    return ServiceNowSettings(
        base_url=connection.base_url,
        username=connection.username or "",
        password=connection.api_key,
        table=options.get("table", "incident"),
        auth="oauth" if auth == "oauth" else "basic",
        client_id=options.get("client_id"),
        client_secret=connection.secrets.get("client_secret"),
        timeout_seconds=connection.timeout_seconds,
    )
