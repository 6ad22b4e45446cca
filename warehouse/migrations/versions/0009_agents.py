"""Enhancement agents: agents, their immutable versions, test cases, deployments, sandbox
runs and technicians' note feedback; enhancement_history names the version of each row.

Every new table is a tenant table: row-level security enabled and forced, with the policy
on tenancy.current_tenant() that 0005_security2 gave the others. References carry the
tenant id, so a row can only point at rows of its own tenant. A version cannot be
changed: a trigger refuses an UPDATE of agent_versions from any role.

sandbox_runs and note_feedback have no foreign key to versions or history rows: they
are removed by the same retention (warehouse.retention), by agent deletion, and by
tenant removal in their own batches, so that each removal counts its own rows.

Revision ID: 0009_agents
Revises: 0015_endpoint_owner
"""

from alembic import op

revision = "0009_agents"
down_revision = "0015_endpoint_owner"
branch_labels = None
depends_on = None

APP_ROLE = "aiops_app"
TABLES = (
    "agents",
    "agent_versions",
    "agent_test_cases",
    "agent_deployments",
    "sandbox_runs",
    "note_feedback",
)


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE agents (
            tenant_id        text NOT NULL REFERENCES tenants ON DELETE CASCADE,
            agent_id         text NOT NULL CHECK (agent_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
            name             text NOT NULL,
            description      text NOT NULL DEFAULT '',
            priority         integer NOT NULL DEFAULT 100,
            active_version   integer,
            previous_version integer,
            shadow_versions  integer[] NOT NULL DEFAULT '{}',
            created_at       timestamptz NOT NULL DEFAULT now(),
            updated_at       timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, agent_id)
        );
        CREATE TABLE agent_versions (
            tenant_id  text NOT NULL,
            agent_id   text NOT NULL,
            version    integer NOT NULL CHECK (version >= 1),
            spec       jsonb NOT NULL,
            comment    text NOT NULL DEFAULT '',
            created_by text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, agent_id, version),
            FOREIGN KEY (tenant_id, agent_id) REFERENCES agents ON DELETE CASCADE
        );
        CREATE FUNCTION agent_versions_immutable() RETURNS trigger
            LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'agent versions are immutable: add a new version instead'
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        -- Run by the trigger whoever updates; nobody needs to call it.
        REVOKE EXECUTE ON FUNCTION agent_versions_immutable() FROM PUBLIC;
        CREATE TRIGGER agent_versions_immutable BEFORE UPDATE ON agent_versions
            FOR EACH ROW EXECUTE FUNCTION agent_versions_immutable();
        CREATE TABLE agent_test_cases (
            id           bigserial PRIMARY KEY,
            tenant_id    text NOT NULL,
            agent_id     text NOT NULL,
            version      integer NOT NULL,
            name         text NOT NULL,
            ticket       jsonb NOT NULL,
            expectations jsonb NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            FOREIGN KEY (tenant_id, agent_id, version) REFERENCES agent_versions
                ON DELETE CASCADE
        );
        CREATE INDEX agent_test_cases_version
            ON agent_test_cases (tenant_id, agent_id, version);
        CREATE TABLE agent_deployments (
            id               bigserial PRIMARY KEY,
            tenant_id        text NOT NULL,
            agent_id         text NOT NULL,
            action           text NOT NULL CHECK (action IN
                ('activate', 'rollback', 'deactivate', 'shadow_on', 'shadow_off')),
            version          integer,
            previous_version integer,
            actor            text NOT NULL,
            overridden       boolean NOT NULL DEFAULT false,
            reason           text NOT NULL DEFAULT '',
            tests_passed     integer,
            tests_total      integer,
            created_at       timestamptz NOT NULL DEFAULT now(),
            FOREIGN KEY (tenant_id, agent_id) REFERENCES agents ON DELETE CASCADE
        );
        CREATE INDEX agent_deployments_agent ON agent_deployments (tenant_id, agent_id, id);
        CREATE TABLE sandbox_runs (
            tenant_id         text NOT NULL,
            run_id            text NOT NULL,
            agent_id          text NOT NULL,
            version           integer NOT NULL,
            kind              text NOT NULL CHECK (kind IN ('sandbox', 'test_case', 'shadow')),
            case_id           bigint REFERENCES agent_test_cases ON DELETE SET NULL,
            event_id          text,
            ticket_id         text NOT NULL,
            status            text NOT NULL,
            error             text,
            note              text,
            passed            boolean,
            failures          jsonb NOT NULL DEFAULT '[]',
            synthesizer       text,
            model             text,
            prompt_tokens     integer,
            completion_tokens integer,
            cost_usd          double precision,
            ms                double precision NOT NULL,
            stages            jsonb NOT NULL,
            created_at        timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, run_id)
        );
        CREATE INDEX sandbox_runs_agent ON sandbox_runs (tenant_id, agent_id, created_at);
        CREATE INDEX sandbox_runs_created ON sandbox_runs (tenant_id, created_at);
        CREATE INDEX sandbox_runs_event ON sandbox_runs (tenant_id, event_id)
            WHERE event_id IS NOT NULL;
        CREATE INDEX sandbox_runs_case ON sandbox_runs (case_id, created_at)
            WHERE case_id IS NOT NULL;
        ALTER TABLE enhancement_history
            ADD COLUMN agent_id text,
            ADD COLUMN agent_version integer;
        COMMENT ON COLUMN enhancement_history.agent_version IS
            'The agent version that produced the row; agent default version 0 is the '
            'behaviour of a tenant without an active agent of its own.';
        CREATE INDEX enhancement_history_agent
            ON enhancement_history (tenant_id, agent_id, agent_version, created_at);
        CREATE TABLE note_feedback (
            id            bigserial PRIMARY KEY,
            tenant_id     text NOT NULL,
            event_id      text NOT NULL,
            agent_id      text,
            agent_version integer,
            helpful       boolean NOT NULL,
            comment       text NOT NULL DEFAULT '',
            technician    text NOT NULL DEFAULT '',
            via           text NOT NULL CHECK (via IN ('api', 'link')),
            created_at    timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX note_feedback_agent ON note_feedback (tenant_id, agent_id, agent_version);
        CREATE INDEX note_feedback_event ON note_feedback (tenant_id, event_id);
        """
    )
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            # A sub-select, as in 0005_security2: evaluated once per statement, not per row.
            "USING (tenant_id = (SELECT tenancy.current_tenant())) "
            "WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()))"
        )
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE note_feedback, sandbox_runs, agent_deployments, agent_test_cases,
            agent_versions, agents;
        DROP FUNCTION agent_versions_immutable();
        DROP INDEX enhancement_history_agent;
        ALTER TABLE enhancement_history DROP COLUMN agent_version, DROP COLUMN agent_id;
        """
    )
