"""Per-note rating links: a token that names one tenant's event, signed, unguessable.

`<base64url of "tenant\\nevent id">.<base64url of HMAC-SHA256>` under a key derived from
the master key (so it rotates with it; tokens made under a retired key that is still
configured keep working). Whoever holds a note's link may rate that note, and nothing else:
the token opens no other route, and a forged or altered one is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from aiops.crypto import SecretBox

PURPOSE = b"note-feedback-v1"
_MAX_TOKEN_CHARS = 600


@dataclass(frozen=True)
class NoteRef:
    tenant_id: str
    event_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()


def make_token(box: SecretBox, tenant_id: str, event_id: str) -> str:
    payload = f"{tenant_id}\n{event_id}".encode()
    signing, _ = box.derived_keys(PURPOSE)
    return f"{_b64(payload)}.{_b64(_mac(signing, payload))}"


def read_token(box: SecretBox, token: str) -> NoteRef | None:
    """The note a genuine token names; None for anything else."""
    if len(token) > _MAX_TOKEN_CHARS or token.count(".") != 1:
        return None
    encoded, mac = token.split(".")
    try:
        payload, given = _unb64(encoded), _unb64(mac)
    except (binascii.Error, ValueError):
        return None
    _, accepted = box.derived_keys(PURPOSE)
    if not any(hmac.compare_digest(_mac(key, payload), given) for key in accepted):
        return None
    tenant_id, _, event_id = payload.decode(errors="replace").partition("\n")
    return NoteRef(tenant_id, event_id) if tenant_id and event_id else None


def feedback_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/feedback/{token}"
