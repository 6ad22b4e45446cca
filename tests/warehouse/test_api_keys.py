"""Tenant API keys: the token is shown once, only its hash is kept, and row-level security
decides whether a token's key exists."""

from __future__ import annotations

import hashlib

import pytest

from aiops.crypto import SecretBox
from warehouse import api_keys
from warehouse.db import Database
from warehouse.tenants import TenantConfig, create_tenant


def _tenant(db: Database, box: SecretBox, tenant_id: str) -> str:
    create_tenant(db, box, TenantConfig(tenant_id=tenant_id, display_name=tenant_id))
    return tenant_id


def _new(db: Database, tenant_id: str, scope: api_keys.Scope = "read") -> api_keys.NewApiKey:
    with db.tenant(tenant_id) as conn:
        return api_keys.create_key(conn, f"{scope} key", scope)


def test_token_is_returned_once_and_only_its_hash_is_stored(
    db: Database, box: SecretBox, tenant_id: str
) -> None:
    made = _new(db, _tenant(db, box, tenant_id), "admin")

    prefix, key_id, secret = made.token.removeprefix("aiok_").split(".")
    assert made.token.startswith("aiok_")
    assert (prefix, key_id) == (tenant_id, made.key.key_id)
    assert len(secret) >= 43
    assert made.token not in repr(made)
    with db.tenant(tenant_id) as conn:
        row = conn.execute("SELECT * FROM api_keys").fetchone()
    assert row is not None
    assert bytes(row["secret_sha256"]) == hashlib.sha256(secret.encode()).digest()
    assert secret not in str(row)
    assert (row["scope"], row["name"], row["revoked_at"]) == ("admin", "admin key", None)


def test_a_live_token_authenticates_and_marks_the_key_used(
    db: Database, box: SecretBox, tenant_id: str
) -> None:
    made = _new(db, _tenant(db, box, tenant_id))
    assert made.key.last_used_at is None

    key = api_keys.authenticate(db, made.token)

    assert key is not None
    assert (key.key_id, key.tenant_id, key.scope) == (made.key.key_id, tenant_id, "read")
    with db.tenant(tenant_id) as conn:
        [listed] = api_keys.list_keys(conn)
    assert listed.last_used_at is not None


def test_forged_wrong_and_revoked_tokens_authenticate_nobody(
    db: Database, box: SecretBox, tenant_id: str
) -> None:
    mine = _tenant(db, box, tenant_id)
    theirs = _tenant(db, box, tenant_id + "-b")
    my_key, their_key = _new(db, mine, "admin"), _new(db, theirs, "admin")
    _, their_id, their_secret = their_key.token.removeprefix("aiok_").split(".")
    _, my_id, my_secret = my_key.token.removeprefix("aiok_").split(".")

    forged = [
        f"aiok_{mine}.{their_id}.{their_secret}",  # their key under my tenant's prefix
        f"aiok_{theirs}.{my_id}.{my_secret}",
        f"aiok_{mine}.{my_id}.{their_secret}",  # wrong secret
        f"aiok_{mine}.{my_id}.{my_secret[:-1]}",
        f"aiok_{mine}.{my_id}.{my_secret}x",
        f"aiok_{mine}.{my_id}",
        f"aiok_{mine}.{my_id}.{my_secret}.extra",
        f"{mine}.{my_id}.{my_secret}",
        f"aiok_Not-A-Tenant.{my_id}.{my_secret}",
        f"aiok_{mine}.short.{my_secret}",
        f"aiok_{mine}.{my_id}.{'é' * 43}",
        "aiok_...",
        "",
    ]
    for token in forged:
        assert api_keys.authenticate(db, token) is None, token

    with db.tenant(mine) as conn:
        revoked = api_keys.revoke_key(conn, my_key.key.key_id)
    assert revoked is not None and revoked.revoked_at is not None
    assert api_keys.authenticate(db, my_key.token) is None
    assert api_keys.authenticate(db, their_key.token) is not None


def test_keys_are_listed_and_revoked_within_their_tenant_only(
    db: Database, box: SecretBox, tenant_id: str
) -> None:
    mine = _tenant(db, box, tenant_id)
    theirs = _tenant(db, box, tenant_id + "-b")
    first, second = _new(db, mine, "read"), _new(db, mine, "admin")
    their_key = _new(db, theirs)

    with db.tenant(mine) as conn:
        listed = api_keys.list_keys(conn)
        not_mine = api_keys.revoke_key(conn, their_key.key.key_id)
        once = api_keys.revoke_key(conn, first.key.key_id)
        twice = api_keys.revoke_key(conn, first.key.key_id)

    assert [k.key_id for k in listed] == [first.key.key_id, second.key.key_id]
    assert not_mine is None
    assert once is not None and twice is not None
    assert twice.revoked_at == once.revoked_at
    with db.tenant(theirs) as conn:
        [theirs_listed] = api_keys.list_keys(conn)
    assert theirs_listed.revoked_at is None
    assert api_keys.authenticate(db, their_key.token) is not None


def test_keys_need_a_registered_tenant_and_a_known_scope(
    db: Database, box: SecretBox, tenant_id: str
) -> None:
    with pytest.raises(api_keys.UnknownTenantError), db.tenant(tenant_id) as conn:
        api_keys.create_key(conn, "orphan", "read")
    _tenant(db, box, tenant_id)
    refused = pytest.raises(ValueError, match="scope must be one of read, admin")
    with refused, db.tenant(tenant_id) as conn:
        api_keys.create_key(conn, "odd", "owner")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("aiok_acme.abcd1234.s3cr3t-s3cr3t_s3cr3t-xyz", ("acme", "abcd1234")),
        ("aiok_a_b-c.ABCDEFGH12345678.s3cr3t-s3cr3t_s3cr3t-xyz", ("a_b-c", "ABCDEFGH12345678")),
        ("aiok_acme.abc1234.s3cr3t-s3cr3t_s3cr3t-xyz", None),  # key id too short
        ("aiok_acme.abcd-234.s3cr3t-s3cr3t_s3cr3t-xyz", None),
        ("aiok_acme.abcd1234.short", None),
        ("aiok_acme.abcd1234.s3cr3t s3cr3t s3cr3t xyz", None),
        ("Bearer aiok_acme.abcd1234.s3cr3t-s3cr3t_s3cr3t-xyz", None),
    ],
)
def test_parse_token(token: str, expected: tuple[str, str] | None) -> None:
    parts = api_keys.parse_token(token)
    assert (None if parts is None else (parts.tenant_id, parts.key_id)) == expected
