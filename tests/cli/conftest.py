"""The `aiops` command run in-process against the session's real PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis
from typer.testing import CliRunner, Result

from aiops.settings import Settings
from cli.main import app

Invoke = Callable[..., Result]


@pytest.fixture()
def cli_env(settings: Settings, redis_client: redis.Redis) -> dict[str, str]:
    """The environment of an operator whose AI_AGENTS_* point at the test servers."""
    assert settings.encryption_key is not None and settings.admin_token is not None
    return {
        "AI_AGENTS_STATE_DIR": str(settings.state_dir),
        "AI_AGENTS_DATABASE_URL": str(settings.database_url),
        "AI_AGENTS_MIGRATION_DATABASE_URL": str(settings.migration_database_url),
        "AI_AGENTS_REDIS_URL": str(settings.redis_url),
        "AI_AGENTS_ENCRYPTION_KEY": settings.encryption_key.get_secret_value(),
        "AI_AGENTS_ADMIN_TOKEN": settings.admin_token.get_secret_value(),
        # Wide enough that table cells are not wrapped mid-phrase.
        "COLUMNS": "240",
    }


@pytest.fixture()
def aiops(cli_env: dict[str, str]) -> Iterator[Invoke]:
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), env=cli_env, input=input)

    yield invoke
