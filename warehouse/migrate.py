"""Run Alembic programmatically: no alembic.ini to keep in step with settings."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def sqlalchemy_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _config(owner_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = sqlalchemy_url(owner_url)
    return config


def upgrade(owner_url: str, revision: str = "head") -> None:
    command.upgrade(_config(owner_url), revision)


def downgrade(owner_url: str, revision: str = "base") -> None:
    command.downgrade(_config(owner_url), revision)


def allow_app_login(owner_url: str) -> None:
    """Embedded servers only: let the application and operator roles log in over the
    local socket."""
    import psycopg

    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("ALTER ROLE aiops_app LOGIN")
        conn.execute("ALTER ROLE aiops_operator LOGIN")
