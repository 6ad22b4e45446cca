"""sandbox_jobs: the management API's requests to the sandbox worker (one tenant's rows).

The API records a request (a sandbox run, a test-case run, an activation gated by the test
cases) here and wakes the worker through a Redis stream; the worker (flows.sandbox_worker)
runs it, stores its runs in sandbox_runs and its outcome here. Retained like
sandbox_runs; removed with the tenant by the tenant removal functions, which cover every
table with a tenant_id.

Revision ID: 0016_sandbox_queue
Revises: 0009_agents
"""

from alembic import op

revision = "0016_sandbox_queue"
down_revision = "0009_agents"
branch_labels = None
depends_on = None

APP_ROLE = "aiops_app"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE sandbox_jobs (
            tenant_id       text NOT NULL,
            job_id          text NOT NULL,
            agent_id        text NOT NULL,
            version         integer NOT NULL,
            kind            text NOT NULL CHECK (kind IN ('sandbox', 'test_cases', 'activate')),
            ticket          jsonb,
            actor           text NOT NULL,
            override_reason text,
            status          text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'done', 'refused', 'failed')),
            error           text,
            run_ids         text[] NOT NULL DEFAULT '{}',
            outcome         jsonb,
            created_at      timestamptz NOT NULL DEFAULT now(),
            started_at      timestamptz,
            finished_at     timestamptz,
            PRIMARY KEY (tenant_id, job_id)
        );
        CREATE INDEX sandbox_jobs_created ON sandbox_jobs (tenant_id, created_at);
        ALTER TABLE sandbox_jobs ENABLE ROW LEVEL SECURITY;
        ALTER TABLE sandbox_jobs FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON sandbox_jobs
            USING (tenant_id = (SELECT tenancy.current_tenant()))
            WITH CHECK (tenant_id = (SELECT tenancy.current_tenant()));
        """
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON sandbox_jobs TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP TABLE sandbox_jobs")
