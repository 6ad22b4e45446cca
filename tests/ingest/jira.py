"""Webhook headers as Jira's admin webhooks (and Automation's web requests) send them."""

from __future__ import annotations

from itsm.jira import DELIVERY_HEADER, SIGNATURE_HEADER, TOKEN_HEADER
from itsm.signing import hex_hmac_sha256

SECRET = "whsec_ingest-jira-test-secret"


def headers(
    raw: bytes, secret: str | None = SECRET, delivery_id: str | None = None
) -> dict[str, str]:
    """JSON content type, `X-Hub-Signature: sha256=<hex>` under `secret` (none if None),
    and `X-Atlassian-Webhook-Identifier`."""
    result = {"Content-Type": "application/json; charset=utf-8"}
    if secret is not None:
        result[SIGNATURE_HEADER] = "sha256=" + hex_hmac_sha256(secret, raw)
    if delivery_id is not None:
        result[DELIVERY_HEADER] = delivery_id
    return result


def token_headers(token: str = SECRET) -> dict[str, str]:
    """What an Automation for Jira "Send web request" rule sends: the secret as a header."""
    return {"Content-Type": "application/json", TOKEN_HEADER: token}
