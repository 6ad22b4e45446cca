"""Standard Webhooks verification: one test per failure mode, then properties."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from itsm.standard_webhooks import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    InvalidSignature,
    TimestampOutOfTolerance,
    sign,
    signing_key,
    verify,
)
from warehouse.tenants import new_webhook_secret

SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-test-key-32by").decode()
OTHER = "whsec_" + base64.b64encode(b"another-tenants-key-of-32-bytes!").decode()
BODY = b'{"request": {"id": "1", "subject": "VPN down"}}'
NOW = 1_732_000_000


def _headers(
    body: bytes = BODY, secret: str = SECRET, message_id: str = "msg_1", timestamp: int = NOW
) -> dict[str, str]:
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, message_id, timestamp, body),
    }


def test_a_signature_made_as_the_spec_says_verifies_and_names_the_delivery() -> None:
    # Computed here from the spec's recipe, not with our own sign().
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, b"msg_1.1732000000." + BODY, hashlib.sha256).digest()
    headers = {
        ID_HEADER: "msg_1",
        TIMESTAMP_HEADER: "1732000000",
        SIGNATURE_HEADER: "v1," + base64.b64encode(digest).decode(),
    }

    verified = verify(headers, BODY, [SECRET], now=NOW)

    assert verified.message_id == "msg_1"
    assert verified.timestamp == NOW
    assert verified.signed_content == b"msg_1.1732000000." + BODY


def test_any_listed_signature_may_match_and_other_versions_are_ignored() -> None:
    good = _headers()[SIGNATURE_HEADER]
    listed = f"v1a,c29tZXRoaW5nIGFzeW1tZXRyaWM= v1,AAAA {good}"

    assert verify({**_headers(), SIGNATURE_HEADER: listed}, BODY, [SECRET], now=NOW)


def test_every_current_secret_verifies_during_a_rotation() -> None:
    assert verify(_headers(secret=OTHER), BODY, [SECRET, OTHER], now=NOW)
    assert verify(_headers(secret=SECRET), BODY, [SECRET, OTHER], now=NOW)
    with pytest.raises(InvalidSignature):
        verify(_headers(secret=OTHER), BODY, [SECRET], now=NOW)


@pytest.mark.parametrize("missing", [ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER])
def test_a_missing_header_is_an_invalid_signature(missing: str) -> None:
    headers = _headers()
    del headers[missing]

    with pytest.raises(InvalidSignature):
        verify(headers, BODY, [SECRET], now=NOW)


@pytest.mark.parametrize(
    "change",
    [
        {ID_HEADER: "msg_2"},
        {TIMESTAMP_HEADER: str(NOW + 1)},
        {TIMESTAMP_HEADER: "not-a-number"},
        {TIMESTAMP_HEADER: "١٧٣٢٠٠٠٠٠٠"},  # digits, but not ASCII ones
        {TIMESTAMP_HEADER: "9" * 5000},
        {SIGNATURE_HEADER: "v1,"},
        {SIGNATURE_HEADER: "v2," + base64.b64encode(b"x" * 32).decode()},
    ],
)
def test_changed_headers_fail(change: dict[str, str]) -> None:
    with pytest.raises(InvalidSignature):
        verify({**_headers(), **change}, BODY, [SECRET], now=NOW)


def test_a_tampered_body_fails() -> None:
    with pytest.raises(InvalidSignature):
        verify(_headers(), BODY + b" ", [SECRET], now=NOW)


@pytest.mark.parametrize("drift", [-301, 301, -86_400, 10**9])
def test_a_good_signature_outside_the_tolerance_is_refused_for_its_time(drift: int) -> None:
    headers = _headers(timestamp=NOW + drift)

    with pytest.raises(TimestampOutOfTolerance) as caught:
        verify(headers, BODY, [SECRET], now=NOW, tolerance_seconds=300)

    assert caught.value.timestamp == NOW + drift
    when = "in the past" if drift < 0 else "in the future"
    assert f"is {drift:+d} s from now ({abs(drift)} s {when})" in str(caught.value)


@pytest.mark.parametrize("drift", [-300, 0, 300])
def test_within_the_tolerance_is_accepted(drift: int) -> None:
    assert verify(_headers(timestamp=NOW + drift), BODY, [SECRET], now=NOW, tolerance_seconds=300)


def test_a_bad_signature_with_an_old_timestamp_tells_nothing_about_the_time() -> None:
    headers = {**_headers(timestamp=NOW - 3600), SIGNATURE_HEADER: "v1,AAAA"}

    with pytest.raises(InvalidSignature):
        verify(headers, BODY, [SECRET], now=NOW)


@pytest.mark.parametrize(
    "secret", ["", "whsec_", "whsec_not base64!", "plain-secret-without-prefix", "whsec_AAA"]
)
def test_secrets_not_of_the_whsec_base64_form_never_verify(secret: str) -> None:
    assert signing_key(secret) is None
    with pytest.raises(InvalidSignature):
        verify(_headers(), BODY, [secret], now=NOW)


def test_generated_secrets_serve_the_standard_scheme() -> None:
    secret = new_webhook_secret()
    key = signing_key(secret)

    assert key is not None and len(key) == 32
    assert verify(_headers(secret=secret), BODY, [secret], now=NOW)


# Properties --------------------------------------------------------------------------------

secrets_st = st.binary(min_size=1, max_size=64).map(
    lambda key: "whsec_" + base64.b64encode(key).decode()
)
ids = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)
stamps = st.integers(min_value=NOW - 300, max_value=NOW + 300)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=2048), secret=secrets_st, message_id=ids, timestamp=stamps)
def test_any_body_and_secret_signs_and_verifies(
    body: bytes, secret: str, message_id: str, timestamp: int
) -> None:
    headers = _headers(body, secret, message_id, timestamp)

    assert verify(headers, body, [secret], now=NOW).message_id == message_id


def _flip(data: bytes, index: int, bits: int) -> bytes:
    changed = bytearray(data)
    changed[index % len(changed)] ^= bits
    return bytes(changed)


flips = st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255))


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(min_size=1, max_size=512),
    secret=secrets_st,
    message_id=ids,
    timestamp=stamps,
    part=st.sampled_from(["body", ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER]),
    flip=flips,
)
def test_flipping_any_byte_of_body_id_timestamp_or_signature_fails(
    body: bytes, secret: str, message_id: str, timestamp: int, part: str, flip: tuple[int, int]
) -> None:
    headers = _headers(body, secret, message_id, timestamp)
    if part == "body":
        body = _flip(body, *flip)
    else:
        # Headers are latin-1 text on the wire: one byte each.
        headers[part] = _flip(headers[part].encode("latin-1"), *flip).decode("latin-1")

    with pytest.raises((InvalidSignature, TimestampOutOfTolerance)):
        verify(headers, body, [secret], now=NOW)


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=512), secret=secrets_st, other=secrets_st)
def test_a_different_secret_fails(body: bytes, secret: str, other: str) -> None:
    assume(signing_key(secret) != signing_key(other))
    with pytest.raises(InvalidSignature):
        verify(_headers(body, other), body, [secret], now=NOW)


@settings(max_examples=300, deadline=None)
@given(
    headers=st.dictionaries(
        st.sampled_from([ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER, "x-other"]), st.text()
    ),
    body=st.binary(max_size=256),
    secrets=st.lists(st.text(), max_size=3),
)
def test_header_garbage_never_raises_anything_else(
    headers: dict[str, str], body: bytes, secrets: list[str]
) -> None:
    try:
        verified = verify(headers, body, secrets, now=NOW)
    except (InvalidSignature, TimestampOutOfTolerance):
        return
    # Random text cannot be an HMAC under a random key.
    raise AssertionError(f"garbage verified: {verified}")
