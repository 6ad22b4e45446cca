"""Jira Service Management tenants: the 'datacenter' flavor.

Revision ID: 0004_jira
Revises: 0003
"""

from alembic import op

revision = "0004_jira"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ServiceDesk Plus: onprem / cloud; Jira: cloud / datacenter.
    op.execute(
        """
        ALTER TABLE tenant_configs DROP CONSTRAINT tenant_configs_itsm_flavor_check;
        ALTER TABLE tenant_configs ADD CONSTRAINT tenant_configs_itsm_flavor_check
            CHECK (itsm_flavor IN ('onprem', 'cloud', 'datacenter'));
        """
    )


def downgrade() -> None:
    op.execute(
        """
        -- Unreadable before this revision: the tenant must be set up again after an upgrade.
        UPDATE tenant_configs SET itsm_flavor = NULL WHERE itsm_flavor = 'datacenter';
        ALTER TABLE tenant_configs DROP CONSTRAINT tenant_configs_itsm_flavor_check;
        ALTER TABLE tenant_configs ADD CONSTRAINT tenant_configs_itsm_flavor_check
            CHECK (itsm_flavor IN ('onprem', 'cloud'));
        """
    )
