"""Who chose a tenant's LLM endpoints: a tenant key's choices are checked again at connect time.

Revision ID: 0015_endpoint_owner
Revises: 0007_llm_chain
"""

from alembic import op

revision = "0015_endpoint_owner"
down_revision = "0007_llm_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE tenant_configs
            ADD COLUMN llm_endpoints_public_only boolean NOT NULL DEFAULT false;
        COMMENT ON COLUMN tenant_configs.llm_endpoints_public_only IS
            'The LLM endpoints were set with a tenant key: every connection to them must '
            'reach public addresses only (checked when connecting, not just when saved).';
        -- Who set an existing endpoint is not recorded: treat it as a tenant's choice. The
        -- platform operator re-saves an endpoint on a private network with the admin token.
        UPDATE tenant_configs SET llm_endpoints_public_only = true
        WHERE llm_api_base IS NOT NULL
           OR jsonb_path_exists(llm_fallbacks, '$[*] ? (@.api_base != null)');
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE tenant_configs DROP COLUMN llm_endpoints_public_only;")
