"""A tenant context the application role cannot forge; tenants created and removed by operators.

Row-level security used to trust the setting `app.current_tenant_id`, which any SQL run as
the application role may set. Policies now call `tenancy.current_tenant()`, which returns a
tenant only when the setting `app.tenant_context` carries an HMAC-SHA256 of that tenant and
of this database session, under a key kept in `tenancy.context_keys`: a table only the owner
reads. The application derives the same key from its master key (warehouse.tenant_context);
`aiops migrate` installs it.

The application role loses INSERT and DELETE on `tenants` (a delete cascaded, as the owner and
past row-level security, into every tenant table). Creating and removing a tenant go through
SECURITY DEFINER functions that only `aiops_operator` may call; each is written to
`tenancy.tenant_audit`.

API key ids are unique per tenant, not across tenants, so a colliding id says nothing about
other tenants.

Revision ID: 0005_security2
Revises: 0003
"""

from alembic import op

revision = "0005_security2"
down_revision = "0004_jira"
branch_labels = None
depends_on = None

APP_ROLE = "aiops_app"
OPERATOR_ROLE = "aiops_operator"
POLICY = "tenant_isolation"

# Every table of the public schema with a tenant_id column, except the registry itself;
# computed in SQL so that a table added by an earlier revision is covered too.
_TENANT_TABLES = """
    SELECT c.relname
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'tenants'
"""


def _set_policies(expression: str) -> None:
    op.execute(
        f"""
        DO $$
        DECLARE t text;
        BEGIN
            FOR t IN {_TENANT_TABLES} LOOP
                EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
                EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', t);
                EXECUTE format('DROP POLICY IF EXISTS {POLICY} ON public.%I', t);
                EXECUTE format(
                    'CREATE POLICY {POLICY} ON public.%I USING (tenant_id = {expression}) '
                    'WITH CHECK (tenant_id = {expression})', t);
            END LOOP;
        END $$;
        """
    )


def upgrade() -> None:
    op.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OPERATOR_ROLE}') THEN
                CREATE ROLE {OPERATOR_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
            END IF;
        END $$;
        """
    )
    # Nobody but the owner creates objects here: a function or table planted by the
    # application role in a schema on the search path would run as whoever calls it.
    op.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    # Nor temporary tables: one named like a tenant table would shadow it (pg_temp comes
    # first on the search path) for every later transaction on that pooled connection.
    op.execute(
        "DO $$ BEGIN EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', "
        "current_database()); END $$"
    )
    op.execute(f"REVOKE INSERT, DELETE, UPDATE, TRUNCATE ON tenants FROM {APP_ROLE}")
    op.execute(
        r"""
        CREATE SCHEMA tenancy;
        REVOKE ALL ON SCHEMA tenancy FROM PUBLIC;

        -- HMAC-SHA256 keys as their two padded halves, (key XOR ipad) and (key XOR opad),
        -- so that the check needs only the built-in sha256().
        CREATE TABLE tenancy.context_keys (
            key_id        text PRIMARY KEY,
            inner_pad     bytea NOT NULL CHECK (length(inner_pad) = 64),
            outer_pad     bytea NOT NULL CHECK (length(outer_pad) = 64),
            installed_at  timestamptz NOT NULL DEFAULT now()
        );
        REVOKE ALL ON tenancy.context_keys FROM PUBLIC;

        CREATE TABLE tenancy.tenant_audit (
            id           bigserial PRIMARY KEY,
            action       text NOT NULL CHECK (action IN ('create', 'delete')),
            tenant_id    text NOT NULL,
            actor        text NOT NULL,
            db_user      text NOT NULL DEFAULT session_user,
            started_at   timestamptz NOT NULL DEFAULT now(),
            finished_at  timestamptz,
            removed      jsonb NOT NULL DEFAULT '{}'
        );
        REVOKE ALL ON tenancy.tenant_audit FROM PUBLIC;

        -- Names this database session: a signed context is good in the session it was
        -- made for only. Backend pids are reused; pid and start time together are not.
        -- PL/pgSQL rather than SQL: a SQL function that cannot be inlined is planned
        -- again on every call, PL/pgSQL keeps its plans.
        CREATE FUNCTION tenancy.session_binding() RETURNS text
            LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
            SET search_path = pg_catalog, pg_temp
        AS $$
        BEGIN
            RETURN (SELECT pg_backend_pid()::text || '.' ||
                           (extract(epoch FROM a.backend_start) * 1000000)::bigint::text
                    FROM pg_stat_get_activity(pg_backend_pid()) a);
        END
        $$;

        -- No SET clause, so that it is inlined where it is used (pg_catalog, which its
        -- two functions come from, is searched first whatever the search path).
        CREATE FUNCTION tenancy.hmac(inner_pad bytea, outer_pad bytea, message text)
            RETURNS bytea
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$
            SELECT sha256(outer_pad || sha256(inner_pad || convert_to(message, 'UTF8')))
        $$;

        -- The tenant of this transaction, or NULL: `app.tenant_context` is
        -- `<tenant>:<session binding>:<hex HMAC of "<tenant>:<session binding>">`.
        -- Policies call it as a scalar subquery, so it runs once per statement.
        CREATE FUNCTION tenancy.current_tenant() RETURNS text
            LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
            SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE
            context text := current_setting('app.tenant_context', true);
            message text;
        BEGIN
            IF context IS NULL
               OR context !~ '^[a-z0-9][a-z0-9_-]{0,62}:[0-9]+\.[0-9]+:[0-9a-f]{64}$'
               OR split_part(context, ':', 2) <> tenancy.session_binding() THEN
                RETURN NULL;
            END IF;
            message := split_part(context, ':', 1) || ':' || split_part(context, ':', 2);
            IF EXISTS (
                SELECT FROM tenancy.context_keys k
                WHERE tenancy.hmac(k.inner_pad, k.outer_pad, message)
                      = decode(split_part(context, ':', 3), 'hex')
            ) THEN
                RETURN split_part(context, ':', 1);
            END IF;
            RETURN NULL;
        END
        $$;

        -- A context for `tenant` in this session (any installed key verifies): the operator
        -- functions below work on a tenant's rows under row-level security like anyone.
        CREATE FUNCTION tenancy.enter_tenant(tenant text) RETURNS void
            LANGUAGE plpgsql VOLATILE SECURITY DEFINER
            SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE
            k tenancy.context_keys;
            message text := tenant || ':' || tenancy.session_binding();
        BEGIN
            SELECT * INTO k FROM tenancy.context_keys LIMIT 1;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'no tenant context key is installed; run aiops migrate';
            END IF;
            PERFORM set_config('app.tenant_context', message || ':' ||
                encode(tenancy.hmac(k.inner_pad, k.outer_pad, message), 'hex'), true);
        END
        $$;

        CREATE FUNCTION tenancy.create_tenant(tenant text, actor text) RETURNS boolean
            LANGUAGE plpgsql VOLATILE SECURITY DEFINER
            SET search_path = pg_catalog, pg_temp
        AS $$
        BEGIN
            INSERT INTO public.tenants (tenant_id) VALUES (tenant) ON CONFLICT DO NOTHING;
            IF NOT FOUND THEN
                RETURN false;
            END IF;
            INSERT INTO tenancy.tenant_audit (action, tenant_id, actor, finished_at)
            VALUES ('create', tenant, actor, now());
            RETURN true;
        END
        $$;

        -- Removal in three steps, so that each batch is a short transaction of its own:
        -- begin (an audit row), batches until none is left, finish (the registry row).
        CREATE FUNCTION tenancy.begin_tenant_deletion(tenant text, actor text) RETURNS bigint
            LANGUAGE plpgsql VOLATILE SECURITY DEFINER
            SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE audit_id bigint;
        BEGIN
            PERFORM FROM public.tenants t WHERE t.tenant_id = tenant FOR UPDATE;
            IF NOT FOUND THEN
                RETURN NULL;
            END IF;
            INSERT INTO tenancy.tenant_audit (action, tenant_id, actor)
            VALUES ('delete', tenant, actor) RETURNING id INTO audit_id;
            RETURN audit_id;
        END
        $$;

        CREATE FUNCTION tenancy.delete_tenant_batch(audit_id bigint, batch integer)
            RETURNS TABLE (table_name text, deleted bigint)
            LANGUAGE plpgsql VOLATILE SECURITY DEFINER
            SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE
            tenant text;
            counts jsonb := '{}';
        BEGIN
            SELECT a.tenant_id INTO tenant FROM tenancy.tenant_audit a
            WHERE a.id = audit_id AND a.action = 'delete' AND a.finished_at IS NULL
            FOR UPDATE;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'no unfinished tenant deletion %', audit_id;
            END IF;
            PERFORM tenancy.enter_tenant(tenant);
            FOR table_name IN
                SELECT c.relname FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
                    AND NOT a.attisdropped
                WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                  AND c.relname <> 'tenants'
                ORDER BY c.relname
            LOOP
                EXECUTE format(
                    'DELETE FROM public.%I WHERE ctid = ANY (ARRAY('
                    'SELECT ctid FROM public.%I WHERE tenant_id = $1 LIMIT $2))',
                    table_name, table_name) USING tenant, batch;
                GET DIAGNOSTICS deleted = ROW_COUNT;
                counts := counts || jsonb_build_object(table_name, deleted);
                RETURN NEXT;
            END LOOP;
            UPDATE tenancy.tenant_audit a SET removed = (
                SELECT coalesce(jsonb_object_agg(key, coalesce((a.removed ->> key)::bigint, 0)
                                                  + value::bigint), '{}')
                FROM jsonb_each_text(counts)
            ) WHERE a.id = audit_id;
        END
        $$;

        CREATE FUNCTION tenancy.finish_tenant_deletion(audit_id bigint) RETURNS jsonb
            LANGUAGE plpgsql VOLATILE SECURITY DEFINER
            SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE
            tenant text;
            result jsonb;
        BEGIN
            SELECT a.tenant_id INTO tenant FROM tenancy.tenant_audit a
            WHERE a.id = audit_id AND a.action = 'delete' AND a.finished_at IS NULL
            FOR UPDATE;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'no unfinished tenant deletion %', audit_id;
            END IF;
            DELETE FROM public.tenants t WHERE t.tenant_id = tenant;
            UPDATE tenancy.tenant_audit a
            SET finished_at = now(), removed = a.removed || jsonb_build_object('tenants', 1)
            WHERE a.id = audit_id RETURNING a.removed INTO result;
            RETURN result;
        END
        $$;
        """
    )
    # Functions are executable by PUBLIC unless revoked; each is granted to whom needs it.
    op.execute("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA tenancy FROM PUBLIC")
    op.execute(f"GRANT USAGE ON SCHEMA tenancy TO {APP_ROLE}, {OPERATOR_ROLE}")
    op.execute(f"GRANT EXECUTE ON FUNCTION tenancy.current_tenant() TO {APP_ROLE}")
    op.execute(f"GRANT EXECUTE ON FUNCTION tenancy.session_binding() TO {APP_ROLE}")
    op.execute(
        f"""
        GRANT EXECUTE ON FUNCTION
            tenancy.create_tenant(text, text),
            tenancy.begin_tenant_deletion(text, text),
            tenancy.delete_tenant_batch(bigint, integer),
            tenancy.finish_tenant_deletion(bigint)
        TO {OPERATOR_ROLE};
        GRANT SELECT ON tenancy.tenant_audit TO {OPERATOR_ROLE};
        """
    )
    _set_policies("(SELECT tenancy.current_tenant())")
    op.execute(
        """
        ALTER TABLE api_keys DROP CONSTRAINT api_keys_pkey;
        ALTER TABLE api_keys ADD PRIMARY KEY (tenant_id, key_id);
        DROP INDEX api_keys_tenant;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
        ALTER TABLE api_keys DROP CONSTRAINT api_keys_pkey;
        ALTER TABLE api_keys ADD PRIMARY KEY (key_id);
        """
    )
    _set_policies("current_setting(''app.current_tenant_id'', true)")
    op.execute("DROP SCHEMA tenancy CASCADE")
    op.execute(f"GRANT INSERT, DELETE ON tenants TO {APP_ROLE}")
    op.execute(
        "DO $$ BEGIN EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO PUBLIC', "
        "current_database()); END $$"
    )
    # CREATE on public stays revoked: PostgreSQL 15 and later do not grant it either.
