"""Tenant registry, tenant tables under forced row-level security, the application role.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APP_ROLE = "aiops_app"
TENANT_TABLES = (
    "tenant_configs",
    "ticket_history",
    "kb_articles",
    "system_inventory",
    "enhancement_history",
)


def upgrade() -> None:
    op.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
            END IF;
        END $$;
        """
    )
    # Platform-level list of tenant ids, with no secrets in it: the one table without RLS,
    # so operators and the Dagster partition sensor can enumerate tenants.
    op.execute(
        r"""
        CREATE TABLE tenants (
            tenant_id   text PRIMARY KEY CHECK (tenant_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
            created_at  timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE tenant_configs (
            tenant_id             text PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
            display_name          text NOT NULL,
            itsm_source           text NOT NULL DEFAULT 'servicedesk',
            itsm_base_url         text,
            itsm_flavor           text CHECK (itsm_flavor IN ('onprem', 'cloud')),
            itsm_credentials_enc  bytea,
            webhook_secrets_enc   bytea NOT NULL,
            llm_model             text,
            llm_fallbacks         jsonb NOT NULL DEFAULT '[]',
            llm_api_base          text,
            llm_api_key_enc       bytea,
            monitoring_url        text,
            created_at            timestamptz NOT NULL DEFAULT now(),
            updated_at            timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE ticket_history (
            id           bigserial PRIMARY KEY,
            tenant_id    text NOT NULL REFERENCES tenants ON DELETE CASCADE,
            ticket_id    text NOT NULL,
            source       text NOT NULL DEFAULT 'import',
            subject      text NOT NULL DEFAULT '',
            description  text NOT NULL DEFAULT '',
            resolution   text,
            category     text,
            priority     text,
            status       text,
            tags         text[] NOT NULL DEFAULT '{}',
            extra        jsonb NOT NULL DEFAULT '{}',
            created_at   timestamptz,
            resolved_at  timestamptz,
            updated_at   timestamptz NOT NULL DEFAULT now(),
            search       tsvector GENERATED ALWAYS AS (
                to_tsvector('english',
                    coalesce(subject, '') || ' ' || coalesce(description, '') || ' ' ||
                    coalesce(resolution, ''))
            ) STORED,
            UNIQUE (tenant_id, ticket_id)
        );
        CREATE INDEX ticket_history_search ON ticket_history USING gin (search);
        CREATE INDEX ticket_history_tenant_updated ON ticket_history (tenant_id, updated_at);

        CREATE TABLE kb_articles (
            id          bigserial PRIMARY KEY,
            tenant_id   text NOT NULL REFERENCES tenants ON DELETE CASCADE,
            article_id  text NOT NULL,
            title       text NOT NULL,
            body        text NOT NULL DEFAULT '',
            url         text,
            tags        text[] NOT NULL DEFAULT '{}',
            updated_at  timestamptz NOT NULL DEFAULT now(),
            search      tsvector GENERATED ALWAYS AS (
                to_tsvector('english', coalesce(title, '') || ' ' || coalesce(body, ''))
            ) STORED,
            UNIQUE (tenant_id, article_id)
        );
        CREATE INDEX kb_articles_search ON kb_articles USING gin (search);

        CREATE TABLE system_inventory (
            id          bigserial PRIMARY KEY,
            tenant_id   text NOT NULL REFERENCES tenants ON DELETE CASCADE,
            hostname    text NOT NULL,
            ip_address  inet,
            kind        text,
            os          text,
            location    text,
            owner       text,
            attributes  jsonb NOT NULL DEFAULT '{}',
            updated_at  timestamptz NOT NULL DEFAULT now(),
            UNIQUE (tenant_id, hostname)
        );
        CREATE INDEX system_inventory_ip ON system_inventory (tenant_id, ip_address);

        CREATE TABLE enhancement_history (
            id                 bigserial PRIMARY KEY,
            tenant_id          text NOT NULL REFERENCES tenants ON DELETE CASCADE,
            event_id           text NOT NULL,
            ticket_id          text NOT NULL,
            source             text NOT NULL,
            kind               text NOT NULL,
            backfill           boolean NOT NULL DEFAULT false,
            status             text NOT NULL CHECK (
                status IN ('processing', 'succeeded', 'stored', 'failed')),
            attempts           integer NOT NULL DEFAULT 0,
            context            jsonb NOT NULL DEFAULT '{}',
            prompt             text,
            output             text,
            synthesizer        text,
            model              text,
            note_id            text,
            note_posted_at     timestamptz,
            error              text,
            error_kind         text,
            timings            jsonb NOT NULL DEFAULT '{}',
            prompt_tokens      integer,
            completion_tokens  integer,
            cost_usd           numeric(12, 6),
            received_at        timestamptz,
            started_at         timestamptz,
            finished_at        timestamptz,
            created_at         timestamptz NOT NULL DEFAULT now(),
            updated_at         timestamptz NOT NULL DEFAULT now(),
            UNIQUE (tenant_id, event_id)
        );
        CREATE INDEX enhancement_history_tenant_created
            ON enhancement_history (tenant_id, created_at);
        """
    )
    op.execute(f"GRANT SELECT, INSERT, DELETE ON tenants TO {APP_ROLE}")
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"""
            CREATE POLICY tenant_isolation ON {table}
                USING (tenant_id = current_setting('app.current_tenant_id', true))
                WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true))
            """
        )
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        op.execute(f"DROP TABLE {table}")
    # The role is cluster-wide and may serve other databases: it stays.
    op.execute("DROP TABLE tenants")
