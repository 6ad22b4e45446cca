"""The ServiceNow business rule's signature and body: one test per failure mode."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from itsm.base import IgnoredEvent, NormalizationError
from itsm.servicenow import normalize_webhook
from itsm.servicenow.signing import TOLERANCE_SECONDS, signature, verify
from tests.itsm.kit.material import OWN_FIXTURES

SECRET = "whsec_c2VydmljZW5vdy1raXQtc2VjcmV0LWZvci10ZXN0cw=="
BODY = b'{"event":"created","record":{"sys_id":"a1"}}'
NOW = 1_764_650_000


def headers(secret: str = SECRET, stamp: int = NOW, delivery: str = "a1-0") -> dict[str, str]:
    return {
        "x-aiops-timestamp": str(stamp),
        "x-aiops-delivery-id": delivery,
        "x-aiops-signature": signature(secret, str(stamp), delivery, BODY),
    }


def test_the_signature_is_what_generate_mac_computes() -> None:
    # GlideCertificateEncryption.generateMac(base64(secret), "HmacSHA256", data): base64 of
    # HMAC-SHA256 under the secret's bytes, over "{timestamp}.{delivery}.{body}".
    content = f"{NOW}.a1-0.".encode() + BODY
    mac = hmac.new(SECRET.encode(), content, hashlib.sha256).digest()
    assert headers()["x-aiops-signature"] == "v1=" + base64.b64encode(mac).decode()


def test_a_fresh_signature_verifies_under_either_rotation_secret() -> None:
    assert verify(headers(), BODY, ["other", SECRET], now=NOW + 10)


@pytest.mark.parametrize(
    "changed",
    [
        {"x-aiops-timestamp": str(NOW + 1)},
        {"x-aiops-delivery-id": "a1-1"},
        {"x-aiops-signature": ""},
        {"x-aiops-timestamp": "not-a-time"},
        {"x-aiops-delivery-id": "x" * 201},
    ],
)
def test_a_changed_header_is_refused(changed: dict[str, str]) -> None:
    assert not verify(headers() | changed, BODY, [SECRET], now=NOW)


def test_a_changed_body_or_another_secret_is_refused() -> None:
    assert not verify(headers(), BODY + b" ", [SECRET], now=NOW)
    assert not verify(headers(secret="other"), BODY, [SECRET], now=NOW)
    assert not verify(headers(secret=""), BODY, [""], now=NOW)


@pytest.mark.parametrize("offset", [TOLERANCE_SECONDS + 1, -TOLERANCE_SECONDS - 1])
def test_a_replay_outside_the_window_is_refused(offset: int) -> None:
    assert verify(headers(), BODY, [SECRET], now=NOW + offset // 2)
    assert not verify(headers(), BODY, [SECRET], now=NOW + offset)


def test_the_record_is_read_from_display_values() -> None:
    body = json.loads((OWN_FIXTURES / "servicenow" / "br_incident_resolved.json").read_text())
    kind, ticket = normalize_webhook(body)
    assert kind == "resolved"
    assert (ticket.priority, ticket.requester, ticket.status) == (
        "3 - Moderate",
        "Abel Tuter",
        "Resolved",
    )
    assert ticket.resolution and ticket.resolution.startswith("Cleared the cached credentials")
    assert ticket.extra["close_code"] == "Solved (Permanently)"  # a category, not the fix
    assert ticket.resolved_at is not None and ticket.resolved_at.isoformat().startswith(
        "2026-11-30T10:02:41"
    )


def test_html_descriptions_become_text() -> None:
    body = json.loads((OWN_FIXTURES / "servicenow" / "br_sc_req_item_created.json").read_text())
    _, ticket = normalize_webhook(body)
    assert ticket.description.startswith("Standard laptop for Jane Doe")


def test_an_update_of_an_open_record_is_ignored_but_the_resolved_route_stores_it() -> None:
    body = json.loads((OWN_FIXTURES / "servicenow" / "br_incident_updated_open.json").read_text())
    with pytest.raises(IgnoredEvent):
        normalize_webhook(body)
    assert normalize_webhook(body, "resolved")[0] == "resolved"


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"event": "created"},
        {"event": "deleted", "record": {"sys_id": "a", "short_description": "x"}},
        {"record": {"short_description": "no sys_id"}},
        {"record": {"sys_id": "a"}},
        {"record": {"sys_id": "a", "short_description": "x", "sys_created_on": "yesterday"}},
        {"record": {"sys_id": "a", "short_description": ["x"]}},
    ],
)
def test_unreadable_bodies_say_which_field(body: object) -> None:
    with pytest.raises(NormalizationError) as caught:
        normalize_webhook(body)
    assert caught.value.errors
