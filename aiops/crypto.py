"""AES-256-GCM for secrets at rest, with key ids so a master key can be rotated."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"
_KEY_ID_BYTES = 4
_NONCE_BYTES = 12


class DecryptionError(Exception):
    """Ciphertext is damaged, bound to other data, or under a key we do not hold."""


def generate_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def parse_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise ValueError("the encryption key must be base64 of 32 random bytes") from exc
    if len(key) != 32:
        raise ValueError(f"the encryption key must be 32 bytes, got {len(key)}")
    return key


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"aiops-key-id" + key).digest()[:_KEY_ID_BYTES]


def key_id(key: bytes) -> str:
    """Names a master key in messages and status output without revealing it."""
    return _key_id(key).hex()


def sealed_key_id(blob: bytes) -> str:
    """The id of the master key a ciphertext was sealed under."""
    return blob[1 : 1 + _KEY_ID_BYTES].hex()


class SecretBox:
    """Encrypts under the current key; decrypts under any key it was given.

    `context` (for example "tenant:acme:itsm") is bound as associated data, so a
    ciphertext copied into another tenant's row does not decrypt there.
    """

    def __init__(self, current: bytes, older: Iterable[bytes] = ()) -> None:
        self._current = current
        self._keys = {_key_id(k): k for k in (*older, current)}

    def encrypt(self, plaintext: str, context: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self._current).encrypt(nonce, plaintext.encode(), context.encode())
        return _VERSION + _key_id(self._current) + nonce + sealed

    def decrypt(self, blob: bytes, context: str) -> str:
        if len(blob) < 1 + _KEY_ID_BYTES + _NONCE_BYTES + 16 or blob[:1] != _VERSION:
            raise DecryptionError("not an AI Ops ciphertext")
        key_id = blob[1 : 1 + _KEY_ID_BYTES]
        key = self._keys.get(key_id)
        if key is None:
            raise DecryptionError("encrypted under a master key this process does not hold")
        nonce = blob[1 + _KEY_ID_BYTES : 1 + _KEY_ID_BYTES + _NONCE_BYTES]
        try:
            plain = AESGCM(key).decrypt(
                nonce, blob[1 + _KEY_ID_BYTES + _NONCE_BYTES :], context.encode()
            )
        except InvalidTag as exc:
            raise DecryptionError("ciphertext failed authentication") from exc
        return plain.decode()

    def derived_keys(self, purpose: bytes) -> tuple[bytes, tuple[bytes, ...]]:
        """HMAC-SHA256 of `purpose` under each master key: the current one's, then all,
        so that another mechanism has a key of its own that rotates with the master key."""

        def derive(key: bytes) -> bytes:
            return hmac.new(key, b"aiops-derived:" + purpose, hashlib.sha256).digest()

        return derive(self._current), tuple(derive(k) for k in self._keys.values())

    def is_current(self, blob: bytes) -> bool:
        return blob[1 : 1 + _KEY_ID_BYTES] == _key_id(self._current)

    @property
    def current_key_id(self) -> str:
        return key_id(self._current)

    @property
    def older_key_ids(self) -> tuple[str, ...]:
        """The other keys it decrypts under; a key given as both current and older is current."""
        current = _key_id(self._current)
        return tuple(k.hex() for k in self._keys if k != current)
