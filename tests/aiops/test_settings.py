"""Production refuses settings a careless operator might leave: missing, weak or malformed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from aiops.crypto import generate_key
from aiops.settings import Settings

GOOD: dict[str, Any] = {
    "environment": "production",
    "database_url": "postgresql://svc@db/aiops",
    "redis_url": "redis://cache:6379/0",
    "admin_token": SecretStr("a" * 8 + "Z3kq9" * 6),
    "encryption_key": SecretStr(generate_key()),
}


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test passes: not the machine's AI_AGENTS_* variables."""
    for name in [n for n in os.environ if n.startswith("AI_AGENTS_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(Path(__file__).parent)  # away from a developer's .env


def test_complete_production_settings_load() -> None:
    assert Settings(**GOOD).environment == "production"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"admin_token": None}, "AI_AGENTS_ADMIN_TOKEN"),
        ({"redis_url": None}, "AI_AGENTS_REDIS_URL"),
        ({"admin_token": SecretStr("changethis")}, "at least 32"),
        ({"encryption_key": SecretStr("not-base64!")}, "AI_AGENTS_ENCRYPTION_KEY"),
        ({"encryption_key": SecretStr("c2hvcnQ=")}, "32 bytes"),
        (
            {"previous_encryption_keys": [SecretStr("c2hvcnQ=")]},
            "AI_AGENTS_PREVIOUS_ENCRYPTION_KEYS",
        ),
    ],
)
def test_production_refuses_what_is_missing_weak_or_malformed(
    change: dict[str, Any], says: str
) -> None:
    with pytest.raises(ValidationError, match=says):
        Settings(**{**GOOD, **change})


def test_development_takes_a_short_admin_token_and_no_urls() -> None:
    settings = Settings(admin_token=SecretStr("short"))
    assert (settings.environment, settings.database_url) == ("development", None)
