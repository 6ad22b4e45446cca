"""Connections for one command: configured servers, or the embedded ones (started or attached)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import redis
from pydantic import ValidationError

from aiops.crypto import SecretBox
from aiops.embedded import ServiceUrls, services
from aiops.secrets import secret_box
from aiops.settings import Settings
from cli.console import fail
from warehouse import migrate, tenant_context
from warehouse.db import Database, NoOperatorError, UnsafeRoleError
from warehouse.tenant_context import context_keys


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    urls: ServiceUrls
    db: Database
    redis: redis.Redis
    box: SecretBox


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"AI_AGENTS_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        fail(f"the configuration is invalid: {problems}")


def is_embedded(settings: Settings) -> bool:
    return settings.database_url is None


def migrate_database(settings: Settings, urls: ServiceUrls) -> None:
    """The schema at head, and the tenant context keys of this master key (and of the
    previous ones) installed: run it again after changing the master key."""
    migrate.upgrade(urls.migration_database_url)
    tenant_context.install(urls.migration_database_url, context_keys(secret_box(settings)))
    if is_embedded(settings):
        migrate.allow_app_login(urls.migration_database_url)


@contextmanager
def explained_errors() -> Iterator[None]:
    """Turns the usual set-up mistakes into a message that says what to check."""
    try:
        yield
    except (UnsafeRoleError, NoOperatorError) as exc:
        fail(str(exc))
    except psycopg.errors.UndefinedTable:
        fail("the database has no AI Ops tables yet; run `aiops migrate` first")
    except psycopg.OperationalError as exc:
        fail(f"cannot reach PostgreSQL ({exc}); check AI_AGENTS_DATABASE_URL")
    except redis.ConnectionError as exc:
        fail(f"cannot reach Redis ({exc}); check AI_AGENTS_REDIS_URL")


@contextmanager
def connect(settings: Settings) -> Iterator[Runtime]:
    """Everything a command needs, whether or not `aiops up` is running.

    Embedded servers are ours, so they are migrated here; a configured database is
    migrated by `aiops migrate` (or `aiops up`) with the owner's URL.
    """
    with explained_errors(), services(settings) as urls:
        if is_embedded(settings):
            migrate_database(settings, urls)
        client = redis.Redis.from_url(urls.redis_url, socket_connect_timeout=5)
        try:
            box = secret_box(settings)
            with Database(
                urls.database_url,
                context_keys(box).signing,
                operator_url=urls.operator_database_url,
                max_size=4,
            ) as db:
                yield Runtime(settings, urls, db, client, box)
        finally:
            client.close()
