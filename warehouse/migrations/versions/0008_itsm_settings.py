"""ITSM plugins' own settings: plain options and a sealed set of further secrets.

Revision ID: 0008_itsm_settings
Revises: 0015_endpoint_owner
"""

from alembic import op

revision = "0008_itsm_settings"
down_revision = "0015_endpoint_owner"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE tenant_configs
            ADD COLUMN itsm_options jsonb NOT NULL DEFAULT '{}'
                CHECK (jsonb_typeof(itsm_options) = 'object'),
            ADD COLUMN itsm_secrets_enc bytea;
        COMMENT ON COLUMN tenant_configs.itsm_options IS
            'The ITSM plugin''s non-secret settings by name (ConnectionField target option), '
            'e.g. a ConnectWise company id.';
        COMMENT ON COLUMN tenant_configs.itsm_secrets_enc IS
            'AES-256-GCM sealed JSON object: the ITSM secrets beyond the API key, by name '
            '(e.g. an OAuth client secret).';
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE tenant_configs
            DROP COLUMN itsm_secrets_enc,
            DROP COLUMN itsm_options;
        """
    )
