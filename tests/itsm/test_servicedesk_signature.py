from __future__ import annotations

import hashlib
import hmac

import pytest

from itsm.servicedesk import DELIVERY_HEADER, SIGNATURE_HEADER, ServiceDeskPlugin

plugin = ServiceDeskPlugin()
BODY = b'{"request": {"id": "1", "subject": "VPN down"}}'


def sign(secret: str, body: bytes = BODY) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_good_signature() -> None:
    assert plugin.verify({SIGNATURE_HEADER: sign("s3cret")}, BODY, ["s3cret"])


@pytest.mark.parametrize("prefix", ["sha256=", "SHA256=", " sha256="])
def test_good_signature_with_prefix(prefix: str) -> None:
    assert plugin.verify({SIGNATURE_HEADER: prefix + sign("s3cret")}, BODY, ["s3cret"])


def test_hex_case_does_not_matter() -> None:
    assert plugin.verify({SIGNATURE_HEADER: sign("s3cret").upper()}, BODY, ["s3cret"])


def test_bad_signature() -> None:
    assert not plugin.verify({SIGNATURE_HEADER: "0" * 64}, BODY, ["s3cret"])
    assert not plugin.verify({SIGNATURE_HEADER: "sha256=not-hex-at-all-é"}, BODY, ["s3cret"])


def test_tampered_body() -> None:
    assert not plugin.verify({SIGNATURE_HEADER: sign("s3cret")}, BODY + b" ", ["s3cret"])


def test_missing_signature() -> None:
    assert not plugin.verify({}, BODY, ["s3cret"])
    assert not plugin.verify({SIGNATURE_HEADER: ""}, BODY, ["s3cret"])


def test_signed_with_another_secret() -> None:
    assert not plugin.verify({SIGNATURE_HEADER: sign("other")}, BODY, ["s3cret"])


def test_rotation_accepts_every_current_secret() -> None:
    secrets = ["new-secret", "old-secret"]
    assert plugin.verify({SIGNATURE_HEADER: sign("new-secret")}, BODY, secrets)
    assert plugin.verify({SIGNATURE_HEADER: sign("old-secret")}, BODY, secrets)
    assert not plugin.verify({SIGNATURE_HEADER: sign("old-secret")}, BODY, ["new-secret"])


def test_no_secrets_or_empty_secrets_never_verify() -> None:
    assert not plugin.verify({SIGNATURE_HEADER: sign("")}, BODY, [])
    assert not plugin.verify({SIGNATURE_HEADER: sign("")}, BODY, [""])


def test_delivery_id() -> None:
    assert plugin.delivery_id({DELIVERY_HEADER: " d-123 "}) == "d-123"
    assert plugin.delivery_id({}) is None
    assert plugin.delivery_id({DELIVERY_HEADER: "  "}) is None
    assert plugin.delivery_id({DELIVERY_HEADER: "x" * 201}) is None
