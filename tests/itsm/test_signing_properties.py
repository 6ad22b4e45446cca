"""Properties of the native HMAC-SHA256 check (itsm/signing.py) over any body and secret."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from itsm.servicedesk import SIGNATURE_HEADER, ServiceDeskPlugin
from itsm.signing import hex_hmac_sha256, matches_any_secret

plugin = ServiceDeskPlugin()
# Secrets are Unicode text (no lone surrogates: UTF-8 cannot carry them, nor can our store).
secrets = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=64)
bodies = st.binary(max_size=2048)


@settings(max_examples=200, deadline=None)
@given(body=bodies, secret=secrets, prefixed=st.booleans())
def test_any_body_and_secret_signs_and_verifies(body: bytes, secret: str, prefixed: bool) -> None:
    signature = ("sha256=" if prefixed else "") + hex_hmac_sha256(secret, body)

    assert matches_any_secret(signature, body, [secret])
    assert plugin.verify({SIGNATURE_HEADER: signature}, body, ["unrelated", secret])


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(min_size=1, max_size=512),
    secret=secrets,
    index=st.integers(min_value=0),
    bits=st.integers(min_value=1, max_value=255),
)
def test_flipping_any_byte_of_the_body_fails(
    body: bytes, secret: str, index: int, bits: int
) -> None:
    signature = hex_hmac_sha256(secret, body)
    changed = bytearray(body)
    changed[index % len(changed)] ^= bits

    assert not matches_any_secret(signature, bytes(changed), [secret])


@settings(max_examples=200, deadline=None)
@given(
    body=bodies,
    secret=secrets,
    index=st.integers(min_value=0, max_value=63),
    replacement=st.characters(codec="latin-1"),
)
def test_changing_any_character_of_the_signature_fails(
    body: bytes, secret: str, index: int, replacement: str
) -> None:
    signature = hex_hmac_sha256(secret, body)
    # Hex case is not significant: only a different digit is a different signature.
    assume(replacement.lower() != signature[index])
    changed = signature[:index] + replacement + signature[index + 1 :]

    assert not matches_any_secret(changed, body, [secret])


@settings(max_examples=100, deadline=None)
@given(body=bodies, secret=secrets, other=secrets)
def test_a_different_secret_fails(body: bytes, secret: str, other: str) -> None:
    assume(secret != other)

    assert not matches_any_secret(hex_hmac_sha256(other, body), body, [secret])


@settings(max_examples=300, deadline=None)
@given(
    signature=st.one_of(st.none(), st.text(), st.text(st.characters(codec="latin-1"))),
    body=st.binary(max_size=256),
    secret_list=st.lists(secrets, max_size=3),
)
def test_header_garbage_never_raises(
    signature: str | None, body: bytes, secret_list: list[str]
) -> None:
    verdict = matches_any_secret(signature, body, secret_list)

    # Random text is a valid HMAC of the body with no more than chance (2^-256).
    assert verdict is False


@pytest.mark.parametrize("garbage", ["sha256=", "sha256", "=" * 64, "é" * 64, "\x00" * 64])
def test_known_garbage_does_not_verify(garbage: str) -> None:
    assert not matches_any_secret(garbage, b"{}", ["a-secret"])
