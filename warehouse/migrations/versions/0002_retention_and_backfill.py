"""Per-tenant retention policy, the ticket each event carried, indexes retention needs.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE tenant_configs
            ADD COLUMN enhancement_retention_days integer
                CHECK (enhancement_retention_days > 0),
            ADD COLUMN ticket_retention_days integer
                CHECK (ticket_retention_days > 0);
        COMMENT ON COLUMN tenant_configs.enhancement_retention_days IS
            'Days of enhancement_history to keep; NULL means the platform default (90).';
        COMMENT ON COLUMN tenant_configs.ticket_retention_days IS
            'Days of ticket_history to keep, by ticket creation day; NULL keeps every ticket.';

        -- A backfill re-enqueues the event as it was: the ticket is part of it.
        ALTER TABLE enhancement_history ADD COLUMN ticket jsonb;

        -- The day a ticket belongs to, for retention and the daily Parquet partitions.
        CREATE INDEX ticket_history_tenant_day
            ON ticket_history (tenant_id, (coalesce(created_at, updated_at)));
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX ticket_history_tenant_day;
        ALTER TABLE enhancement_history DROP COLUMN ticket;
        ALTER TABLE tenant_configs
            DROP COLUMN ticket_retention_days,
            DROP COLUMN enhancement_retention_days;
        """
    )
