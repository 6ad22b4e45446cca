"""Who chose a tenant's LLM endpoints and ITSM address (a tenant key's choices are checked
again at connect time), and a ledger of LLM spend that budgets sum (a re-run no longer
replaces a cost).

Revision ID: 0015_endpoint_owner
Revises: 0007_llm_chain
"""

from alembic import op

revision = "0015_endpoint_owner"
down_revision = "0007_llm_chain"
branch_labels = None
depends_on = None


APP_ROLE = "aiops_app"


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE tenant_configs
            ADD COLUMN llm_endpoints_public_only boolean NOT NULL DEFAULT false,
            ADD COLUMN itsm_endpoint_public_only boolean NOT NULL DEFAULT false;
        COMMENT ON COLUMN tenant_configs.itsm_endpoint_public_only IS
            'itsm_base_url was set with a tenant key: the flow reaches it at public addresses '
            'only, checked on every connection.';
        COMMENT ON COLUMN tenant_configs.llm_endpoints_public_only IS
            'The LLM endpoints were set with a tenant key: every connection to them must '
            'reach public addresses only (checked when connecting, not just when saved).';
        -- Who set an existing endpoint is not recorded: treat it as a tenant's choice. The
        -- platform operator re-saves an endpoint on a private network with the admin token.
        UPDATE tenant_configs SET llm_endpoints_public_only = true
        WHERE llm_api_base IS NOT NULL
           OR jsonb_path_exists(llm_fallbacks, '$[*] ? (@.api_base != null)');

        -- One row per synthesis that cost something: a backfill or a retry of an event adds
        -- a row instead of replacing enhancement_history.cost_usd, so a month's spend is
        -- what was spent in it.
        CREATE TABLE llm_spend (
            id        bigint GENERATED ALWAYS AS IDENTITY,
            tenant_id text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            event_id  text NOT NULL,
            spent_at  timestamptz NOT NULL DEFAULT now(),
            cost_usd  numeric(14, 8) NOT NULL CHECK (cost_usd > 0),
            PRIMARY KEY (tenant_id, id)
        );
        CREATE INDEX llm_spend_tenant_spent_at ON llm_spend (tenant_id, spent_at);
        ALTER TABLE llm_spend ENABLE ROW LEVEL SECURITY;
        ALTER TABLE llm_spend FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON llm_spend
            USING (tenant_id = (SELECT tenancy.current_tenant()))
            WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()));
        -- Spend already recorded, once per event as it stood.
        INSERT INTO llm_spend (tenant_id, event_id, spent_at, cost_usd)
        SELECT tenant_id, event_id, coalesce(finished_at, updated_at), cost_usd
        FROM enhancement_history WHERE cost_usd > 0;
        """
    )
    # As every tenant table; the retention job's batches lock rows (FOR UPDATE) to delete.
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON llm_spend TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE llm_spend;
        ALTER TABLE tenant_configs
            DROP COLUMN itsm_endpoint_public_only,
            DROP COLUMN llm_endpoints_public_only;
        """
    )
