"""Replacing a tenant's ITSM connection (address, flavor, credentials, the plugin's own
settings) in one statement; every secret is sealed before it reaches the database."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aiops.crypto import SecretBox
from warehouse.db import TenantConnection, session_tenant
from warehouse.tenants import seal_itsm_credentials, seal_itsm_secrets


def replace_itsm_connection(
    conn: TenantConnection,
    box: SecretBox,
    *,
    base_url: str | None,
    flavor: str | None,
    api_key: str | None,
    username: str | None,
    options: Mapping[str, str],
    secrets: Mapping[str, str],
    set_by_tenant: bool,
) -> bool:
    """On the connection's own tenant; all None/empty stops write-back (notes are stored).
    `set_by_tenant`: a tenant key chose the address, so the flow reaches it at public
    addresses only. False when the tenant has no configuration."""
    tenant_id = session_tenant(conn)
    row = conn.execute(
        """
        UPDATE tenant_configs
        SET itsm_base_url = %s, itsm_flavor = %s, itsm_credentials_enc = %s,
            itsm_options = %s, itsm_secrets_enc = %s, itsm_endpoint_public_only = %s,
            updated_at = now()
        RETURNING tenant_id
        """,
        (
            base_url,
            flavor,
            seal_itsm_credentials(box, tenant_id, api_key, username),
            json.dumps(dict(options)),
            seal_itsm_secrets(box, tenant_id, secrets),
            set_by_tenant,
        ),
    ).fetchone()
    return row is not None
