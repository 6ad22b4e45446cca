"""`aiops keys`: rotation from master key K1 to K2 against real PostgreSQL and Redis.

Rotation walks every tenant, so these tests run on a database of their own on the
session's server: the other tests' tenants (under the session key) stay out of it.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis
import redis.asyncio
from psycopg import sql
from typer.testing import CliRunner, Result

from aiops.crypto import SecretBox, generate_key, key_id, parse_key
from aiops.embedded import ServiceUrls
from aiops.llm import LlmTarget
from aiops.tenant_directory import TenantDirectory, sealed_secrets
from cli.main import app
from warehouse import migrate, rotation, tenant_context
from warehouse.db import Database
from warehouse.tenant_context import context_keys
from warehouse.tenants import (
    SEALED_COLUMNS,
    TenantConfig,
    get_tenant,
    register_tenant,
    sealed_context,
)

PREFIX = "aiops"
K1, K2, K3 = generate_key(), generate_key(), generate_key()
OLD = SecretBox(parse_key(K1))
BOTH = SecretBox(parse_key(K2), [parse_key(K1)])
NEW_ONLY = SecretBox(parse_key(K2))

TENANTS = {
    "acme": TenantConfig(
        "acme",
        "Acme",
        itsm_base_url="https://sdp.acme.example",
        itsm_flavor="onprem",
        itsm_api_key="sdp-acme-secret-1",
        webhook_secrets=("whsec_acme-webhook-secret-0123456789",),
        llm_model="openai/gpt-4o-mini",
        llm_api_key="sk-acme-llm-secret-2",
        # A fallback provider's key is sealed in a column of its own: rotated too.
        llm_fallbacks=(
            "openai/gpt-4o",
            LlmTarget("anthropic/claude-3-5-haiku-latest", None, "sk-ant-acme-secret-7"),
        ),
    ),
    "beta": TenantConfig("beta", "Beta", webhook_secrets=("whsec_beta-webhook-secret-0123456789",)),
    "gamma": TenantConfig(
        "gamma",
        "Gamma",
        itsm_base_url="https://sdp.gamma.example",
        itsm_flavor="cloud",
        itsm_api_key="sdp-gamma-secret-3",
        webhook_secrets=("whsec_gamma-webhook-secret-0123456789",),
    ),
}
SECRETS = 7  # acme 4, beta 1, gamma 2


def _count(output: str, label: str) -> int:
    found = re.search(rf"^  {label}: +(\d+)$", output, re.MULTILINE)
    assert found, output
    return int(found.group(1))


def _on_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="module")
def scratch(service_urls: ServiceUrls) -> Iterator[ServiceUrls]:
    name = f"aiops_keys_{uuid.uuid4().hex[:8]}"
    owner = service_urls.migration_database_url
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    urls = ServiceUrls(
        database_url=_on_database(service_urls.database_url, name),
        migration_database_url=_on_database(owner, name),
        redis_url=service_urls.redis_url,
        operator_database_url=_on_database(owner, name),
    )
    try:
        migrate.upgrade(urls.migration_database_url)
        # As `aiops migrate` with K2 current and K1 previous leaves it, before rotating.
        tenant_context.install(urls.migration_database_url, context_keys(BOTH))
        yield urls
    finally:
        with psycopg.connect(owner, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture()
def keys_db(scratch: ServiceUrls, redis_client: redis.Redis) -> Iterator[Database]:
    """The scratch database with the three tenants registered under K1 (rows and Redis)."""
    with psycopg.connect(scratch.migration_database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE tenants CASCADE")
    with Database(
        scratch.database_url,
        context_keys(OLD).signing,
        operator_url=scratch.operator_database_url,
        max_size=2,
    ) as db:
        for config in TENANTS.values():
            register_tenant(db, OLD, redis_client, PREFIX, config)
        yield db


def _run(
    scratch: ServiceUrls,
    cli_env: dict[str, str],
    *args: str,
    current: str = K2,
    previous: list[str] | None = None,
) -> Result:
    env = {
        **cli_env,
        "AI_AGENTS_DATABASE_URL": scratch.database_url,
        "AI_AGENTS_MIGRATION_DATABASE_URL": scratch.migration_database_url,
        "AI_AGENTS_ENCRYPTION_KEY": current,
        "AI_AGENTS_PREVIOUS_ENCRYPTION_KEYS": json.dumps([K1] if previous is None else previous),
    }
    return CliRunner().invoke(app, ["keys", *args], env=env)


def _blobs(db: Database, client: redis.Redis) -> dict[str, bytes]:
    """Every encrypted value, by tenant and field: rows and Redis entries."""
    found: dict[str, bytes] = {}
    for tenant_id in TENANTS:
        with db.tenant(tenant_id) as conn:
            row = conn.execute("SELECT * FROM tenant_configs").fetchone()
        assert row is not None
        for column in SEALED_COLUMNS:
            if row[column] is not None:
                found[f"{tenant_id}.{column}"] = bytes(row[column])
        entry = sealed_secrets(client, PREFIX, tenant_id)
        assert entry is not None
        found[f"{tenant_id}.directory"] = entry
    return found


def _directory_reads(url: str, box: SecretBox, tenant_id: str) -> tuple[str, ...]:
    async def lookup() -> tuple[str, ...]:
        client = redis.asyncio.Redis.from_url(url)
        try:
            entry = await TenantDirectory(client, PREFIX, box, ttl_seconds=0).lookup(tenant_id)
        finally:
            await client.aclose()
        assert entry is not None
        return entry.webhook_secrets

    return asyncio.run(lookup())


def _assert_readable(db: Database, redis_url: str, box: SecretBox) -> None:
    for tenant_id, seeded in TENANTS.items():
        stored = get_tenant(db, box, tenant_id)
        assert stored is not None
        assert (stored.itsm_api_key, stored.llm_api_key) == (
            seeded.itsm_api_key,
            seeded.llm_api_key,
        )
        assert stored.webhook_secrets == seeded.webhook_secrets
        assert stored.llm_fallbacks == seeded.llm_fallbacks
        assert _directory_reads(redis_url, box, tenant_id) == seeded.webhook_secrets


def test_rotate_reencrypts_every_secret_and_a_second_run_has_nothing_to_do(
    scratch: ServiceUrls, cli_env: dict[str, str], keys_db: Database, redis_client: redis.Redis
) -> None:
    assert not any(NEW_ONLY.is_current(b) for b in _blobs(keys_db, redis_client).values())

    first = _run(scratch, cli_env, "rotate")

    assert first.exit_code == 0, first.output
    assert "3 tenants" in first.output
    assert _count(first.output, "secrets re-encrypted") == SECRETS
    assert _count(first.output, "secrets already current") == 0
    assert _count(first.output, "directory entries republished") == 3
    assert all(NEW_ONLY.is_current(b) for b in _blobs(keys_db, redis_client).values())
    _assert_readable(keys_db, scratch.redis_url, NEW_ONLY)
    for secret in ("sdp-acme-secret-1", "sk-acme-llm-secret-2", "whsec_beta"):
        assert secret not in first.output

    again = _run(scratch, cli_env, "rotate")

    assert again.exit_code == 0, again.output
    assert _count(again.output, "secrets re-encrypted") == 0
    assert _count(again.output, "secrets already current") == SECRETS
    assert _count(again.output, "directory entries republished") == 0


def test_a_half_done_rotation_reads_with_both_keys_and_resumes(
    scratch: ServiceUrls, cli_env: dict[str, str], keys_db: Database, redis_client: redis.Redis
) -> None:
    done = rotation.rotate_tenant(keys_db, BOTH, redis_client, PREFIX, "acme")

    assert (done.reencrypted, done.current, done.republished) == (4, 0, True)
    blobs = _blobs(keys_db, redis_client)
    assert {k for k, b in blobs.items() if NEW_ONLY.is_current(b)} == {
        k for k in blobs if k.startswith("acme.")
    }
    _assert_readable(keys_db, scratch.redis_url, BOTH)
    status = _run(scratch, cli_env, "status")
    assert status.exit_code == 0, status.output
    assert "4 secrets are not under the current key yet" not in status.output
    assert "5 secrets are not under the current key yet" in status.output  # beta 1+1, gamma 2+1

    rest = _run(scratch, cli_env, "rotate")

    assert rest.exit_code == 0, rest.output
    assert _count(rest.output, "secrets re-encrypted") == 3
    assert _count(rest.output, "secrets already current") == 4
    assert _count(rest.output, "directory entries republished") == 2
    _assert_readable(keys_db, scratch.redis_url, NEW_ONLY)


def test_status_counts_secrets_per_key_until_the_old_one_can_go(
    scratch: ServiceUrls, cli_env: dict[str, str], keys_db: Database
) -> None:
    before = _run(scratch, cli_env, "status")

    assert before.exit_code == 0, before.output
    old_row = next(line for line in before.output.splitlines() if key_id(parse_key(K1)) in line)
    assert "previous" in old_row and f" {SECRETS} " in old_row and " 3 " in old_row
    assert f"{SECRETS + 3} secrets are not under the current key yet" in before.output

    assert _run(scratch, cli_env, "rotate").exit_code == 0
    after = _run(scratch, cli_env, "status")

    assert after.exit_code == 0, after.output
    new_row = next(line for line in after.output.splitlines() if key_id(parse_key(K2)) in line)
    assert "current" in new_row and f" {SECRETS} " in new_row and " 3 " in new_row
    assert "the previous keys can be removed" in after.output


def test_a_dry_run_counts_and_changes_nothing(
    scratch: ServiceUrls, cli_env: dict[str, str], keys_db: Database, redis_client: redis.Redis
) -> None:
    before = _blobs(keys_db, redis_client)

    dry = _run(scratch, cli_env, "rotate", "--dry-run")

    assert dry.exit_code == 0, dry.output
    assert "Dry run, nothing changed: 3 tenants." in dry.output
    assert _count(dry.output, "secrets to re-encrypt") == SECRETS
    assert _count(dry.output, "directory entries to republish") == 3
    assert _blobs(keys_db, redis_client) == before


def test_a_secret_under_a_key_not_held_stops_rotation_naming_tenant_and_field(
    scratch: ServiceUrls, cli_env: dict[str, str], keys_db: Database, redis_client: redis.Redis
) -> None:
    stranger = SecretBox(parse_key(K3))
    lost = stranger.encrypt("sk-beta-llm-secret-4", sealed_context("beta", "llm_api_key_enc"))
    with keys_db.tenant("beta") as conn:
        conn.execute("UPDATE tenant_configs SET llm_api_key_enc = %s", (lost,))

    failed = _run(scratch, cli_env, "rotate")

    assert failed.exit_code == 1
    assert "tenant 'beta': llm_api_key_enc is sealed under master key" in failed.output
    assert key_id(parse_key(K3)) in failed.output
    assert "AI_AGENTS_PREVIOUS_ENCRYPTION_KEYS" in failed.output
    assert "1 tenants before it are done" in failed.output
    assert "sk-beta-llm-secret-4" not in failed.output
    blobs = _blobs(keys_db, redis_client)
    assert all(NEW_ONLY.is_current(b) for k, b in blobs.items() if k.startswith("acme."))
    assert not any(NEW_ONLY.is_current(b) for k, b in blobs.items() if k.startswith("gamma."))
    status = _run(scratch, cli_env, "status")
    lost_row = next(line for line in status.output.splitlines() if key_id(parse_key(K3)) in line)
    assert "NOT HELD" in lost_row and " 1 " in lost_row


def test_rotate_refuses_when_no_older_key_is_held(
    scratch: ServiceUrls, cli_env: dict[str, str], keys_db: Database, redis_client: redis.Redis
) -> None:
    before = _blobs(keys_db, redis_client)

    for previous in ([], [K2]):
        refused = _run(scratch, cli_env, "rotate", previous=previous)

        assert refused.exit_code == 1
        assert "nothing to rotate from" in refused.output
        assert "AI_AGENTS_PREVIOUS_ENCRYPTION_KEYS" in refused.output
    assert _blobs(keys_db, redis_client) == before


def test_generate_prints_a_fresh_master_key() -> None:
    runner = CliRunner()
    first, second = (
        runner.invoke(app, ["keys", "generate"]),
        runner.invoke(app, ["keys", "generate"]),
    )

    assert first.exit_code == 0 and second.exit_code == 0
    assert len(parse_key(first.stdout.strip())) == 32
    assert first.stdout != second.stdout
    assert "aiops keys rotate" in first.stderr
