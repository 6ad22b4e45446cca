"""LLM provider chains and budgets: a sealed key per fallback provider, a monthly limit.

Revision ID: 0007_llm_chain
Revises: 0003
"""

from alembic import op

revision = "0007_llm_chain"
down_revision = "0005_security2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE tenant_configs
            ADD COLUMN llm_fallback_keys_enc bytea,
            ADD COLUMN llm_monthly_budget_usd numeric(12, 2)
                CHECK (llm_monthly_budget_usd >= 0);
        COMMENT ON COLUMN tenant_configs.llm_fallback_keys_enc IS
            'AES-256-GCM sealed JSON list: the API key of each llm_fallbacks entry (or null), '
            'in the same order.';
        COMMENT ON COLUMN tenant_configs.llm_monthly_budget_usd IS
            'LLM cost the tenant may spend per calendar month (UTC); NULL means the platform '
            'default (AI_AGENTS_LLM_MONTHLY_BUDGET_USD).';
        -- The month's spend is summed per event: by tenant and time, not a full scan.
        CREATE INDEX enhancement_history_tenant_finished
            ON enhancement_history (tenant_id, finished_at);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX enhancement_history_tenant_finished;
        ALTER TABLE tenant_configs
            DROP COLUMN llm_monthly_budget_usd,
            DROP COLUMN llm_fallback_keys_enc;
        """
    )
