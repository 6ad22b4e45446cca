"""Where the master key and admin token come from: settings, or generated once for development."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from aiops.crypto import SecretBox, generate_key, parse_key
from aiops.settings import Settings
from aiops.state import private_dir

log = logging.getLogger(__name__)


def _generated(path: Path, make: str, what: str) -> str:
    if path.exists():
        return path.read_text().strip()
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(make)
    log.warning("generated a development %s in %s; production must set it explicitly", what, path)
    return make


def secret_box(settings: Settings) -> SecretBox:
    if settings.encryption_key is not None:
        current = settings.encryption_key.get_secret_value()
    else:
        current = _generated(
            settings.state_dir / "master.key",
            generate_key(),
            "master key (AI_AGENTS_ENCRYPTION_KEY)",
        )
    older = [parse_key(k.get_secret_value()) for k in settings.previous_encryption_keys]
    return SecretBox(parse_key(current), older)


def admin_token(settings: Settings) -> str:
    if settings.admin_token is not None:
        return settings.admin_token.get_secret_value()
    return _generated(
        settings.state_dir / "admin.token",
        secrets.token_urlsafe(32),
        "admin token (AI_AGENTS_ADMIN_TOKEN)",
    )
