"""The attacker's view: arbitrary SQL as the application role (an injection, a bug).

Whatever it runs — with the context of its own tenant's transaction or with none, after
forging every setting it can set — it reads, changes and removes nothing of another
tenant, in any relation or through any function it can reach. Relations, functions,
schemas and roles are enumerated from pg_catalog, so a table added later is covered
without editing this file.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import DictRow, dict_row

from aiops.crypto import SecretBox, generate_key, parse_key
from aiops.embedded import ServiceUrls
from tests.warehouse.test_migrations_and_rls import TENANT_TABLES
from warehouse.db import Database
from warehouse.tenant_context import context_keys

_SYSTEM = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'"

READABLE = f"""
SELECT n.nspname AS schema, c.relname AS name, c.relrowsecurity AS rls,
       c.relforcerowsecurity AS forced,
       EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
               AND NOT a.attisdropped) AS has_tenant
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {_SYSTEM} AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND has_any_column_privilege(c.oid, 'SELECT')
ORDER BY 1, 2
"""

# Tenant ids only, no secrets: the platform's list of tenants, which the partition sensor
# and retention enumerate. It is read-only to the application role (test below).
PUBLIC_REGISTRY = ("public", "tenants")


@contextmanager
def _as_app(url: str) -> Iterator[psycopg.Connection[DictRow]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        yield conn


def _readable(conn: psycopg.Connection[DictRow]) -> list[dict[str, object]]:
    return conn.execute(READABLE).fetchall()


def _their_rows(conn: psycopg.Connection[DictRow], theirs: str) -> dict[str, int]:
    """Rows of `theirs` the connection sees, in every relation it may read that has them
    (but the registry of tenant ids, which lists every tenant by design)."""
    seen = {}
    for rel in _readable(conn):
        if not rel["has_tenant"] or (rel["schema"], rel["name"]) == PUBLIC_REGISTRY:
            continue
        name = sql.Identifier(str(rel["schema"]), str(rel["name"]))
        query = sql.SQL("SELECT count(*) AS n FROM {} WHERE tenant_id = %s").format(name)
        row = conn.execute(query, (theirs,)).fetchone()
        assert row is not None
        seen[f"{rel['schema']}.{rel['name']}"] = int(row["n"])
    return seen


@pytest.fixture()
def their_context(service_urls: ServiceUrls, box: SecretBox, pair: tuple[str, str]) -> str:
    """A genuine signed context of the other tenant, as another session made it."""
    with (
        Database(service_urls.database_url, context_keys(box).signing, max_size=1) as other,
        other.tenant(pair[1]) as conn,
    ):
        row = conn.execute("SELECT current_setting('app.tenant_context') AS c").fetchone()
    assert row is not None
    return str(row["c"])


def _forgeries(theirs: str, their_context: str) -> list[str]:
    """What SQL as the application role may try to become `theirs`."""
    guessed_key = hmac.new(b"", b"", hashlib.sha256).hexdigest()
    stranger = SecretBox(parse_key(generate_key()))
    return [
        f"SET app.current_tenant_id = '{theirs}'",
        f"SELECT set_config('app.current_tenant_id', '{theirs}', true)",
        f"SET app.tenant_context = '{theirs}'",
        # Replayed from the session it was made for.
        f"SELECT set_config('app.tenant_context', '{their_context}', true)",
        # Their tenant, this session, the signature of whatever context this session has.
        f"SELECT set_config('app.tenant_context', '{theirs}:' || tenancy.session_binding()"
        " || ':' || split_part(current_setting('app.tenant_context', true), ':', 3), true)",
        # Their tenant and this session under guessed keys.
        f"SELECT set_config('app.tenant_context', '{theirs}:' || tenancy.session_binding()"
        f" || ':{guessed_key}', true)",
        f"SELECT set_config('app.tenant_context', '{theirs}:' || tenancy.session_binding()"
        f" || ':' || encode(sha256(convert_to('{theirs}:' || tenancy.session_binding(),"
        " 'UTF8')), 'hex'), true)",
        f"SELECT set_config('app.tenant_context', '{theirs}:' || tenancy.session_binding()"
        f" || ':' || '{context_keys(stranger).signing.hex()}', true)",
        # Every other placeholder setting this session knows, set to their tenant.
        "SELECT set_config(name, %(theirs)s, true) FROM pg_settings WHERE name LIKE '%%.%%'"
        " AND name NOT LIKE 'plpgsql.%%' AND context = 'user'",
        "SET ROLE aiops_operator",
        "SET SESSION AUTHORIZATION DEFAULT",
        "RESET ROLE",
    ]


def _attempt(conn: psycopg.Connection[DictRow], statement: str, theirs: str) -> None:
    """Runs `statement`, keeping the transaction usable if it is refused."""
    try:
        with conn.transaction():
            conn.execute(statement, {"theirs": theirs} if "%(theirs)s" in statement else None)
    except psycopg.Error:
        pass


def test_enumeration_reaches_every_tenant_table_and_sees_rows_with_a_genuine_context(
    db: Database, pair: tuple[str, str]
) -> None:
    """The control: the probe below finds the other tenant's rows when it should."""
    _, theirs = pair
    with db.tenant(theirs) as conn:
        seen = _their_rows(conn, theirs)
    assert {f"public.{t}" for t in TENANT_TABLES} <= set(seen)
    assert all(n >= 1 for n in seen.values()), seen


@pytest.mark.parametrize("with_context", [True, False], ids=["own-context", "no-context"])
def test_forged_contexts_read_nothing_of_the_other_tenant(
    db: Database,
    service_urls: ServiceUrls,
    pair: tuple[str, str],
    their_context: str,
    with_context: bool,
) -> None:
    mine, theirs = pair
    with db.tenant(mine) if with_context else db.platform() as conn:
        for statement in _forgeries(theirs, their_context):
            _attempt(conn, statement, theirs)
            seen = _their_rows(conn, theirs)
            assert set(seen.values()) == {0}, (statement, seen)
            who = conn.execute("SELECT tenancy.current_tenant() AS t").fetchone()
            assert who is not None and who["t"] != theirs, statement
    with _as_app(service_urls.database_url) as conn:
        for statement in _forgeries(theirs, their_context):
            _attempt(conn, statement, theirs)
            assert set(_their_rows(conn, theirs).values()) == {0}, statement


def test_only_the_tenant_registry_is_readable_without_row_level_security(
    service_urls: ServiceUrls,
) -> None:
    with _as_app(service_urls.database_url) as conn:
        readable = _readable(conn)
    unprotected = {(r["schema"], r["name"]) for r in readable if not (r["rls"] and r["forced"])}
    assert unprotected == {PUBLIC_REGISTRY}
    assert all(r["has_tenant"] for r in readable if (r["schema"], r["name"]) != PUBLIC_REGISTRY)


def test_the_app_role_writes_only_tables_under_row_level_security(
    service_urls: ServiceUrls,
) -> None:
    query = f"""
    SELECT n.nspname || '.' || c.relname AS name, p.privilege,
           c.relrowsecurity AND c.relforcerowsecurity AS protected
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
         unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'])
             AS p(privilege)
    WHERE {_SYSTEM} AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND has_table_privilege(c.oid, p.privilege)
    """
    with _as_app(service_urls.database_url) as conn:
        granted = conn.execute(query).fetchall()
        sequences = conn.execute(
            f"SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE {_SYSTEM} AND c.relkind = 'S' AND (has_sequence_privilege(c.oid, 'SELECT') "
            "OR has_sequence_privilege(c.oid, 'UPDATE'))"
        ).fetchall()
        schemas = conn.execute(
            f"SELECT n.nspname FROM pg_namespace n WHERE {_SYSTEM} "
            "AND has_schema_privilege(n.oid, 'CREATE')"
        ).fetchall()
        temp = conn.execute(
            "SELECT has_database_privilege(current_database(), 'TEMPORARY') AS t"
        ).fetchone()
    assert granted, "the app role writes tenant tables: the query must see those grants"
    assert [g for g in granted if not g["protected"]] == []
    assert {g["privilege"] for g in granted} == {"INSERT", "UPDATE", "DELETE"}
    assert (sequences, schemas, temp) == ([], [], {"t": False})


def test_the_app_role_can_neither_create_nor_remove_tenants(
    db: Database, pair: tuple[str, str]
) -> None:
    mine, theirs = pair
    attempts = [
        ("DELETE FROM tenants WHERE tenant_id = %s", (theirs,)),
        ("UPDATE tenants SET tenant_id = tenant_id WHERE tenant_id = %s", (theirs,)),
        ("INSERT INTO tenants (tenant_id) VALUES (%s)", (theirs + "-new",)),
        ("TRUNCATE tenants CASCADE", ()),
        ("SELECT tenancy.create_tenant(%s, 'attacker')", (theirs + "-new",)),
        ("SELECT tenancy.begin_tenant_deletion(%s, 'attacker')", (theirs,)),
        ("SELECT tenancy.enter_tenant(%s)", (theirs,)),
        ("SELECT * FROM tenancy.context_keys", ()),
        ("SELECT * FROM tenancy.tenant_audit", ()),
    ]
    for statement, params in attempts:
        with pytest.raises(psycopg.errors.InsufficientPrivilege), db.tenant(mine) as conn:
            conn.execute(statement, params)
    with db.tenant(theirs) as conn:
        assert set(_their_rows(conn, theirs).values()) == {1}


def test_the_functions_the_app_role_may_call_are_only_the_context_check(
    service_urls: ServiceUrls,
) -> None:
    with _as_app(service_urls.database_url) as conn:
        callable_ = conn.execute(
            f"SELECT p.oid::regprocedure::text AS name, p.prosecdef AS definer "
            f"FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            f"WHERE {_SYSTEM} AND has_function_privilege(p.oid, 'EXECUTE')"
        ).fetchall()
        roles = conn.execute(
            "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles "
            "WHERE pg_has_role(current_user, oid, 'MEMBER') AND rolname <> current_user"
        ).fetchall()
    definers = {f["name"] for f in callable_ if f["definer"]}
    assert definers == {"tenancy.current_tenant()"}
    assert {f["name"] for f in callable_} == {
        "tenancy.current_tenant()",
        "tenancy.session_binding()",
    }
    assert [r for r in roles if r["rolsuper"] or r["rolbypassrls"]] == []
    assert "aiops_operator" not in {r["rolname"] for r in roles}


def test_a_context_is_good_only_in_its_own_session(
    db: Database, service_urls: ServiceUrls, pair: tuple[str, str], their_context: str
) -> None:
    """Replayed on another session the signed context names nobody; a fresh one made for
    the same session works (so the check is not simply refusing everything)."""
    _, theirs = pair
    with _as_app(service_urls.database_url) as conn:
        conn.execute("SELECT set_config('app.tenant_context', %s, false)", (their_context,))
        replayed = conn.execute("SELECT tenancy.current_tenant() AS t").fetchone()
    with db.tenant(theirs) as conn:
        genuine = conn.execute("SELECT tenancy.current_tenant() AS t").fetchone()
    assert replayed == {"t": None}
    assert genuine == {"t": theirs}


def test_a_context_does_not_outlive_its_transaction(
    service_urls: ServiceUrls, box: SecretBox, pair: tuple[str, str]
) -> None:
    mine, _ = pair
    key = context_keys(box).signing
    # One connection, so the second transaction runs on the session of the first.
    with Database(service_urls.database_url, key, min_size=1, max_size=1) as single:
        with single.tenant(mine) as conn:
            inside = conn.execute("SELECT tenancy.current_tenant() AS t").fetchone()
            conn.execute("SET app.current_tenant_id = 'lingering'")
        with single.platform() as conn:
            after = conn.execute(
                "SELECT tenancy.current_tenant() AS t, "
                "current_setting('app.tenant_context', true) AS c, "
                "current_setting('app.current_tenant_id', true) AS plain"
            ).fetchone()
    assert inside == {"t": mine}
    assert after is not None and not after["plain"]
    assert after is not None and after["t"] is None and not after["c"]
