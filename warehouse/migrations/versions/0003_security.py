"""Tenant API keys, webhook signing scheme and rate limit, personal-data masking.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

APP_ROLE = "aiops_app"


def upgrade() -> None:
    op.execute(
        r"""
        -- A key's token is `aiok_<tenant_id>.<key_id>.<secret>`: the tenant it names is set
        -- as the transaction's tenant before the lookup, so row-level security itself
        -- decides whether the key exists. Only a SHA-256 of the secret is kept.
        CREATE TABLE api_keys (
            key_id        text PRIMARY KEY CHECK (key_id ~ '^[A-Za-z0-9]{8,32}$'),
            tenant_id     text NOT NULL REFERENCES tenants ON DELETE CASCADE,
            name          text NOT NULL,
            scope         text NOT NULL CHECK (scope IN ('read', 'admin')),
            secret_sha256 bytea NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now(),
            last_used_at  timestamptz,
            revoked_at    timestamptz
        );
        CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

        ALTER TABLE tenant_configs
            ADD COLUMN webhook_scheme text NOT NULL DEFAULT 'native'
                CHECK (webhook_scheme IN ('native', 'standard')),
            ADD COLUMN webhook_rate_per_minute integer
                CHECK (webhook_rate_per_minute > 0),
            ADD COLUMN mask_personal_data boolean NOT NULL DEFAULT false;
        COMMENT ON COLUMN tenant_configs.webhook_scheme IS
            'native: the ITSM plugin''s own signature header; standard: Standard Webhooks '
            '(webhook-id, webhook-timestamp, webhook-signature).';
        COMMENT ON COLUMN tenant_configs.webhook_rate_per_minute IS
            'Webhooks accepted per minute; NULL means the platform default.';
        COMMENT ON COLUMN tenant_configs.mask_personal_data IS
            'Mask e-mail addresses and phone numbers before anything goes to an LLM.';
        """
    )
    op.execute("ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE api_keys FORCE ROW LEVEL SECURITY")
    op.execute(
        """
        CREATE POLICY tenant_isolation ON api_keys
            USING (tenant_id = current_setting('app.current_tenant_id', true))
            WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true))
        """
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON api_keys TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE tenant_configs
            DROP COLUMN mask_personal_data,
            DROP COLUMN webhook_rate_per_minute,
            DROP COLUMN webhook_scheme;
        DROP TABLE api_keys;
        """
    )
