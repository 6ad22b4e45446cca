"""Triage: noise skipped with its reason, suggestions stored, per-tenant field write-back.

enhancement_history gains status 'skipped' (noise: no note made) with `skip_reason`, and
`triage`: the category/priority/type suggestions with their confidence, which of them were
written to the ticket, and the ongoing incident the ticket may belong to. triage_settings
holds, per tenant, whether suggestions are written to the ticket's own fields and from
which confidence.

Revision ID: 0011_triage
Revises: 0015_endpoint_owner
"""

from alembic import op

revision = "0011_triage"
down_revision = "0015_endpoint_owner"
branch_labels = None
depends_on = None

APP_ROLE = "aiops_app"


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE enhancement_history
            DROP CONSTRAINT enhancement_history_status_check,
            ADD CONSTRAINT enhancement_history_status_check CHECK (
                status IN ('processing', 'succeeded', 'stored', 'skipped', 'failed')),
            ADD COLUMN skip_reason text,
            ADD COLUMN triage jsonb;
        COMMENT ON COLUMN enhancement_history.skip_reason IS
            'Why no note was made (status skipped): auto_reply, out_of_office, '
            'delivery_failure, newsletter or empty.';
        COMMENT ON COLUMN enhancement_history.triage IS
            'Category/priority/type suggestions with confidence and origin, the fields '
            'written to the ticket, and the possible ongoing incident.';
        -- Recent tickets of a tenant, for the ongoing-incident check of every event.
        CREATE INDEX enhancement_history_tenant_received
            ON enhancement_history (tenant_id, received_at);

        CREATE TABLE triage_settings (
            tenant_id     text PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
            write_fields  boolean NOT NULL DEFAULT false,
            threshold     double precision NOT NULL DEFAULT 0.8
                CHECK (threshold > 0 AND threshold <= 1),
            fields        text[] NOT NULL DEFAULT '{category,priority,type}'
                CHECK (fields <@ '{category,priority,type}'::text[]),
            updated_at    timestamptz NOT NULL DEFAULT now()
        );
        COMMENT ON TABLE triage_settings IS
            'Per tenant: write triage suggestions to the ticket''s own fields (write_fields) '
            'when their confidence is at least threshold, for these fields only.';
        ALTER TABLE triage_settings ENABLE ROW LEVEL SECURITY;
        ALTER TABLE triage_settings FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON triage_settings
            USING (tenant_id = (SELECT tenancy.current_tenant()))
            WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()));
        """
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON triage_settings TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE triage_settings;
        DROP INDEX enhancement_history_tenant_received;
        DELETE FROM enhancement_history WHERE status = 'skipped';
        ALTER TABLE enhancement_history
            DROP COLUMN triage,
            DROP COLUMN skip_reason,
            DROP CONSTRAINT enhancement_history_status_check,
            ADD CONSTRAINT enhancement_history_status_check CHECK (
                status IN ('processing', 'succeeded', 'stored', 'failed'));
        """
    )
