"""Nothing under the state folder is readable by other users: folders 0700 (or 0711 where
pgserver, run as root, needs passage), files 0600."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from aiops.embedded import services
from aiops.secrets import admin_token, secret_box
from aiops.settings import Settings


@pytest.fixture()
def loose_umask() -> Iterator[None]:
    """As a shell with the usual umask 022 would start the process."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def _open_to_others(root: Path) -> list[str]:
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        # A folder may grant passage (execute, which lists nothing); nothing more.
        opened = mode & (0o066 if stat.S_ISDIR(mode) else 0o077)
        if (stat.S_ISDIR(mode) or stat.S_ISREG(mode)) and opened:
            found.append(f"{oct(stat.S_IMODE(mode))} {path.relative_to(root)}")
    return found


def test_embedded_servers_keys_and_stream_file_are_private(loose_umask: None) -> None:
    # Short path: unix socket paths are limited to about 100 characters.
    with tempfile.TemporaryDirectory(prefix="aiops-p-", dir="/tmp") as parent:
        _check(Path(parent) / "state")


def _check(state: Path) -> None:
    settings = Settings(state_dir=state)
    with services(settings) as urls:
        secret_box(settings)
        admin_token(settings)
        client = redis.Redis.from_url(urls.redis_url)
        client.xadd("aiops:events:0", {"event": b"{}"})
        client.close()
        (state / "warehouse" / "t").mkdir(parents=True)
        (state / "warehouse" / "t" / "part.parquet").write_bytes(b"PAR1")
        files = [p for p in state.rglob("*") if p.is_file()]
        assert any("appendonly" in p.name for p in files), files
        assert (state / "master.key").exists() and (state / "postgres" / "PG_VERSION").exists()
        assert _open_to_others(state) == []
