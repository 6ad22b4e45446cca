"""Tenant registry and configuration; secrets go in and out encrypted."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

import redis

from aiops import tenant_directory
from aiops.crypto import SecretBox
from aiops.llm import LlmTarget
from aiops.tenant_directory import WebhookScheme
from warehouse.db import Database, TenantConnection, session_tenant


@dataclass(frozen=True)
class TenantConfig:
    tenant_id: str
    display_name: str
    itsm_source: str = "servicedesk"
    itsm_base_url: str | None = None
    itsm_flavor: str | None = None
    itsm_api_key: str | None = field(default=None, repr=False)
    # Whose key it is, where the ITSM wants both (Jira Cloud: the account e-mail).
    itsm_username: str | None = field(default=None, repr=False)
    # The plugin's own settings (itsm.base.ConnectionField): plain, and further secrets.
    itsm_options: Mapping[str, str] = field(default_factory=dict)
    itsm_secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    llm_model: str | None = None
    # A plain model name shares the primary's endpoint and key; an LlmTarget has its own.
    llm_fallbacks: tuple[str | LlmTarget, ...] = ()
    llm_api_base: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    # The endpoints above were set with a tenant key: reach them at public addresses only.
    llm_endpoints_public_only: bool = False
    # itsm_base_url was set with a tenant key: reach it at public addresses only.
    itsm_endpoint_public_only: bool = False
    monitoring_url: str | None = None
    webhook_scheme: WebhookScheme = "native"
    webhook_rate_per_minute: int | None = None
    mask_personal_data: bool = False

    @property
    def writes_back(self) -> bool:
        return bool(self.itsm_base_url and self.itsm_api_key)


class TenantExistsError(Exception):
    pass


def _context(tenant_id: str, what: str) -> str:
    return f"tenant:{tenant_id}:{what}"


# Every encrypted column of tenant_configs and the context its blobs are bound to: master
# key rotation (warehouse.rotation) re-encrypts exactly these.
SEALED_COLUMNS = {
    "itsm_credentials_enc": "itsm",
    "itsm_secrets_enc": "itsm_secrets",
    "webhook_secrets_enc": "webhook_secrets",
    "llm_api_key_enc": "llm",
    "llm_fallback_keys_enc": "llm_fallbacks",
}


# Fallbacks in the clear (llm_fallbacks, jsonb): a model name, or {"model", "api_base",
# "has_api_key"} for a provider of its own, whose key is in llm_fallback_keys_enc: one
# sealed JSON list of keys (or nulls), in the same order.


def _seal_fallbacks(
    box: SecretBox, tenant_id: str, fallbacks: Sequence[str | LlmTarget]
) -> tuple[str, bytes | None]:
    listed: list[Any] = []
    keys: list[str | None] = []
    for f in fallbacks:
        if isinstance(f, str):
            listed.append(f)
            keys.append(None)
        else:
            listed.append(
                {"model": f.model, "api_base": f.api_base, "has_api_key": f.api_key is not None}
            )
            keys.append(f.api_key)
    sealed = (
        box.encrypt(json.dumps(keys), _context(tenant_id, "llm_fallbacks"))
        if any(k is not None for k in keys)
        else None
    )
    return json.dumps(listed), sealed


def _open_fallbacks(
    box: SecretBox, tenant_id: str, listed: list[Any], sealed: bytes | None
) -> tuple[str | LlmTarget, ...]:
    keys: list[str | None] = (
        json.loads(box.decrypt(bytes(sealed), _context(tenant_id, "llm_fallbacks")))
        if sealed is not None
        else [None] * len(listed)
    )
    return tuple(
        f if isinstance(f, str) else LlmTarget(f["model"], f["api_base"], key)
        for f, key in zip(listed, keys, strict=True)
    )


@dataclass(frozen=True)
class FallbackSummary:
    """A fallback provider as it may be shown: whether it has a key, never the key."""

    model: str
    api_base: str | None
    has_api_key: bool


def _summarize_fallbacks(listed: list[Any]) -> tuple[str | FallbackSummary, ...]:
    return tuple(f if isinstance(f, str) else FallbackSummary(**f) for f in listed)


def sealed_context(tenant_id: str, column: str) -> str:
    return _context(tenant_id, SEALED_COLUMNS[column])


def seal_itsm_credentials(
    box: SecretBox, tenant_id: str, api_key: str | None, username: str | None
) -> bytes | None:
    """The key alone, or with its user as {"username", "api_key"} JSON: both encrypted."""
    if not api_key:
        return None
    plain = json.dumps({"username": username, "api_key": api_key}) if username else api_key
    return box.encrypt(plain, _context(tenant_id, "itsm"))


def open_itsm_credentials(
    box: SecretBox, tenant_id: str, sealed: bytes | None
) -> tuple[str | None, str | None]:
    """(api_key, username) from what seal_itsm_credentials made."""
    if not sealed:
        return None, None
    plain = box.decrypt(sealed, _context(tenant_id, "itsm"))
    if plain.startswith("{"):
        try:
            pair = json.loads(plain)
        except ValueError:
            pair = None
        if isinstance(pair, dict) and isinstance(pair.get("api_key"), str):
            username = pair.get("username")
            return pair["api_key"], username if isinstance(username, str) else None
    return plain, None


def seal_itsm_secrets(box: SecretBox, tenant_id: str, values: Mapping[str, str]) -> bytes | None:
    """The plugin's further secrets, one sealed JSON object; None when there are none."""
    if not values:
        return None
    return box.encrypt(json.dumps(dict(values)), _context(tenant_id, "itsm_secrets"))


def open_itsm_secrets(box: SecretBox, tenant_id: str, sealed: bytes | None) -> dict[str, str]:
    if not sealed:
        return {}
    opened = json.loads(box.decrypt(bytes(sealed), _context(tenant_id, "itsm_secrets")))
    return {str(k): str(v) for k, v in opened.items()}


def new_webhook_secret() -> str:
    """Standard Webhooks' form, `whsec_` + base64 of 32 random bytes, so that it serves
    either scheme: Standard Webhooks keys HMAC with the decoded bytes, the native scheme
    with the whole string."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def create_tenant(
    db: Database, box: SecretBox, config: TenantConfig, *, actor: str = "platform"
) -> TenantConfig:
    """Registers the tenant (an operator action, audited under `actor`); generates a
    webhook secret unless one is given."""
    tid = config.tenant_id
    webhook_secrets = config.webhook_secrets or (new_webhook_secret(),)
    fallbacks, fallback_keys = _seal_fallbacks(box, tid, config.llm_fallbacks)
    with db.operator() as conn:
        row = conn.execute(
            "SELECT tenancy.create_tenant(%s, %s) AS created", (tid, actor)
        ).fetchone()
    if row is None or not row["created"]:
        raise TenantExistsError(f"tenant {tid!r} already exists")
    with db.tenant(tid) as conn:
        conn.execute(
            """
            INSERT INTO tenant_configs (
                tenant_id, display_name, itsm_source, itsm_base_url, itsm_flavor,
                itsm_credentials_enc, webhook_secrets_enc, llm_model, llm_fallbacks,
                llm_api_base, llm_api_key_enc, monitoring_url, webhook_scheme,
                webhook_rate_per_minute, mask_personal_data, llm_fallback_keys_enc,
                llm_endpoints_public_only, itsm_options, itsm_secrets_enc,
                itsm_endpoint_public_only)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                    %s)
            """,
            (
                tid,
                config.display_name,
                config.itsm_source,
                config.itsm_base_url,
                config.itsm_flavor,
                seal_itsm_credentials(box, tid, config.itsm_api_key, config.itsm_username),
                box.encrypt(json.dumps(list(webhook_secrets)), _context(tid, "webhook_secrets")),
                config.llm_model,
                fallbacks,
                config.llm_api_base,
                box.encrypt(config.llm_api_key, _context(tid, "llm"))
                if config.llm_api_key
                else None,
                config.monitoring_url,
                config.webhook_scheme,
                config.webhook_rate_per_minute,
                config.mask_personal_data,
                fallback_keys,
                config.llm_endpoints_public_only,
                json.dumps(dict(config.itsm_options)),
                seal_itsm_secrets(box, tid, config.itsm_secrets),
                config.itsm_endpoint_public_only,
            ),
        )
    return get_tenant(db, box, tid) or config


def get_tenant(db: Database, box: SecretBox, tenant_id: str) -> TenantConfig | None:
    with db.tenant(tenant_id) as conn:
        return read_config(conn, box)


def read_config(conn: TenantConnection, box: SecretBox) -> TenantConfig | None:
    """The connection's own tenant's configuration, secrets decrypted."""
    row = conn.execute("SELECT * FROM tenant_configs").fetchone()
    if row is None:
        return None
    tid = row["tenant_id"]
    itsm = row["itsm_credentials_enc"]
    itsm_api_key, itsm_username = open_itsm_credentials(box, tid, bytes(itsm) if itsm else None)
    llm = row["llm_api_key_enc"]
    return TenantConfig(
        tenant_id=tid,
        display_name=row["display_name"],
        itsm_source=row["itsm_source"],
        itsm_base_url=row["itsm_base_url"],
        itsm_flavor=row["itsm_flavor"],
        itsm_api_key=itsm_api_key,
        itsm_username=itsm_username,
        itsm_options=row["itsm_options"],
        itsm_secrets=open_itsm_secrets(box, tid, row["itsm_secrets_enc"]),
        webhook_secrets=tuple(
            json.loads(
                box.decrypt(bytes(row["webhook_secrets_enc"]), _context(tid, "webhook_secrets"))
            )
        ),
        llm_model=row["llm_model"],
        llm_fallbacks=_open_fallbacks(box, tid, row["llm_fallbacks"], row["llm_fallback_keys_enc"]),
        llm_api_base=row["llm_api_base"],
        llm_api_key=box.decrypt(bytes(llm), _context(tid, "llm")) if llm else None,
        llm_endpoints_public_only=row["llm_endpoints_public_only"],
        itsm_endpoint_public_only=row["itsm_endpoint_public_only"],
        monitoring_url=row["monitoring_url"],
        webhook_scheme=row["webhook_scheme"],
        webhook_rate_per_minute=row["webhook_rate_per_minute"],
        mask_personal_data=row["mask_personal_data"],
    )


class Keep(Enum):
    """Leave a stored secret as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


def update_llm(
    conn: TenantConnection,
    box: SecretBox,
    *,
    model: str | None,
    fallbacks: Sequence[str | LlmTarget],
    api_base: str | None,
    api_key: str | Keep | None,
    set_by_tenant: bool,
) -> bool:
    """Sets the connection's tenant's model, fallbacks, endpoint and key (bring your own key).

    `api_key` replaces the stored key, None removes it, KEEP leaves it; fallbacks are
    replaced whole, their keys included. `set_by_tenant`: a tenant key chose these
    endpoints, so the flow connects to them at public addresses only. False when the
    tenant has no configuration.
    """
    tenant_id = session_tenant(conn)
    keep = isinstance(api_key, Keep)
    sealed = None
    if isinstance(api_key, str) and api_key:
        sealed = box.encrypt(api_key, _context(tenant_id, "llm"))
    listed, fallback_keys = _seal_fallbacks(box, tenant_id, fallbacks)
    updated = conn.execute(
        """
        UPDATE tenant_configs
        SET llm_model = %s, llm_fallbacks = %s, llm_api_base = %s,
            llm_api_key_enc = CASE WHEN %s THEN llm_api_key_enc ELSE %s::bytea END,
            llm_fallback_keys_enc = %s, llm_endpoints_public_only = %s, updated_at = now()
        RETURNING tenant_id
        """,
        (model, listed, api_base, keep, sealed, fallback_keys, set_by_tenant),
    ).fetchone()
    return updated is not None


def update_profile(
    conn: TenantConnection,
    *,
    display_name: str | None = None,
    mask_personal_data: bool | None = None,
) -> bool:
    """Changes what is given, on the connection's own tenant; False if it has no config."""
    row = conn.execute(
        """
        UPDATE tenant_configs
        SET display_name = coalesce(%s, display_name),
            mask_personal_data = coalesce(%s, mask_personal_data),
            updated_at = now()
        RETURNING tenant_id
        """,
        (display_name, mask_personal_data),
    ).fetchone()
    return row is not None


def list_tenant_ids(db: Database) -> list[str]:
    with db.platform() as conn:
        rows = conn.execute("SELECT tenant_id FROM tenants ORDER BY tenant_id").fetchall()
    return [r["tenant_id"] for r in rows]


@dataclass(frozen=True)
class TenantSummary:
    """What may be shown about a tenant: whether secrets are set, never the secrets."""

    tenant_id: str
    display_name: str
    itsm_source: str
    itsm_base_url: str | None
    itsm_flavor: str | None
    itsm_options: dict[str, str]
    has_itsm_credentials: bool
    llm_model: str | None
    llm_fallbacks: tuple[str | FallbackSummary, ...]
    llm_api_base: str | None
    has_llm_api_key: bool
    monitoring_url: str | None
    webhook_scheme: str
    webhook_rate_per_minute: int | None
    mask_personal_data: bool
    created_at: datetime


_SUMMARY = """
SELECT tenant_id, display_name, itsm_source, itsm_base_url, itsm_flavor, itsm_options,
       itsm_credentials_enc IS NOT NULL AS has_itsm_credentials, llm_model, llm_fallbacks,
       llm_api_base, llm_api_key_enc IS NOT NULL AS has_llm_api_key, monitoring_url,
       webhook_scheme, webhook_rate_per_minute, mask_personal_data, created_at
FROM tenant_configs
"""


def tenant_summary(db: Database, tenant_id: str) -> TenantSummary | None:
    with db.tenant(tenant_id) as conn:
        return read_summary(conn)


def read_summary(conn: TenantConnection) -> TenantSummary | None:
    """What may be shown about the connection's own tenant."""
    row = conn.execute(_SUMMARY).fetchone()
    if row is None:
        return None
    return TenantSummary(**{**row, "llm_fallbacks": _summarize_fallbacks(row["llm_fallbacks"])})


def list_tenants(db: Database) -> list[TenantSummary]:
    """Every tenant, one transaction each: row-level security shows one tenant at a time."""
    found = (tenant_summary(db, tid) for tid in list_tenant_ids(db))
    return [summary for summary in found if summary is not None]


def publish_tenant(client: redis.Redis, prefix: str, box: SecretBox, config: TenantConfig) -> None:
    """Tells ingest (through Redis) which secrets sign this tenant's webhooks."""
    tenant_directory.publish(
        client,
        prefix,
        box,
        config.tenant_id,
        config.itsm_source,
        list(config.webhook_secrets),
        scheme=config.webhook_scheme,
        rate_per_minute=config.webhook_rate_per_minute,
    )


def register_tenant(
    db: Database, box: SecretBox, client: redis.Redis, prefix: str, config: TenantConfig
) -> TenantConfig:
    """Creates the tenant and publishes its webhook secrets, so ingest accepts it at once.

    Redis is asked first, so that an unreachable Redis fails before anything is written;
    should publishing still fail after the row is written, `aiops up` republishes it.
    """
    client.ping()
    created = create_tenant(db, box, config)
    publish_tenant(client, prefix, box, created)
    return created


def publish_all(db: Database, box: SecretBox, client: redis.Redis, prefix: str) -> int:
    """Republishes every tenant's webhook secrets; returns how many tenants."""
    published = 0
    for tenant_id in list_tenant_ids(db):
        config = get_tenant(db, box, tenant_id)
        if config is not None:
            publish_tenant(client, prefix, box, config)
            published += 1
    return published


class RotationInProgressError(Exception):
    """Two webhook secrets are current already; drop the previous one first."""


class NoRotationError(Exception):
    """Only one webhook secret is current: there is no previous one to drop."""


def _locked_webhook_secrets(
    conn: TenantConnection, box: SecretBox, tenant_id: str
) -> tuple[str, ...] | None:
    row = conn.execute("SELECT webhook_secrets_enc FROM tenant_configs FOR UPDATE").fetchone()
    if row is None:
        return None
    plain = box.decrypt(bytes(row["webhook_secrets_enc"]), _context(tenant_id, "webhook_secrets"))
    return tuple(json.loads(plain))


def _store_webhook_secrets(
    conn: TenantConnection, box: SecretBox, tenant_id: str, webhook_secrets: tuple[str, ...]
) -> None:
    sealed = box.encrypt(json.dumps(list(webhook_secrets)), _context(tenant_id, "webhook_secrets"))
    conn.execute(
        "UPDATE tenant_configs SET webhook_secrets_enc = %s, updated_at = now()", (sealed,)
    )


def add_webhook_secret(conn: TenantConnection, box: SecretBox, secret: str) -> TenantConfig | None:
    """Adds `secret` after the current one: both verify until the rotation is finished.

    None when the tenant has no configuration; RotationInProgressError when two are current.
    """
    tenant_id = session_tenant(conn)
    current = _locked_webhook_secrets(conn, box, tenant_id)
    if current is None:
        return None
    if len(current) >= 2:
        raise RotationInProgressError(tenant_id)
    _store_webhook_secrets(conn, box, tenant_id, (*current, secret))
    return read_config(conn, box)


def drop_previous_webhook_secret(conn: TenantConnection, box: SecretBox) -> TenantConfig | None:
    """Keeps only the newest webhook secret. None when the tenant has no configuration;
    NoRotationError when only one is current."""
    tenant_id = session_tenant(conn)
    current = _locked_webhook_secrets(conn, box, tenant_id)
    if current is None:
        return None
    if len(current) < 2:
        raise NoRotationError(tenant_id)
    _store_webhook_secrets(conn, box, tenant_id, current[-1:])
    return read_config(conn, box)


def set_webhook_options(
    conn: TenantConnection,
    box: SecretBox,
    *,
    scheme: WebhookScheme,
    rate_per_minute: int | None,
) -> TenantConfig | None:
    """Sets how webhooks are signed and how many a minute are accepted (None: the platform
    default). None when the tenant has no configuration."""
    updated = conn.execute(
        "UPDATE tenant_configs SET webhook_scheme = %s, webhook_rate_per_minute = %s, "
        "updated_at = now() RETURNING tenant_id",
        (scheme, rate_per_minute),
    ).fetchone()
    return read_config(conn, box) if updated is not None else None
