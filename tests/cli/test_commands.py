"""`aiops migrate`, and `aiops demo` / `aiops up` refusing clearly when they cannot run."""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from aiops.running_system import RunningSystem, announce, forget
from aiops.settings import Settings
from cli.main import app
from tests.cli.conftest import Invoke
from tests.fakes.loopback import free_port


def test_migrate_is_idempotent_at_head(aiops: Invoke) -> None:
    result = aiops("migrate")

    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def test_demo_says_how_to_start_the_system_when_it_is_not_running(aiops: Invoke) -> None:
    result = aiops("demo", "--ingest-url", f"http://127.0.0.1:{free_port()}")

    assert result.exit_code == 1
    assert "not answering" in result.output
    assert "aiops up" in result.output
    assert "--ingest-url" in result.output  # the way out when ingest listens elsewhere


def test_demo_finds_the_port_the_running_system_announced(
    aiops: Invoke, settings: Settings
) -> None:
    port = free_port()  # nothing answers there: the message names the address tried
    url = f"http://127.0.0.1:{port}"
    announce(settings.state_dir, RunningSystem(url, url, f"http://127.0.0.1:{free_port()}"))
    try:
        result = aiops("demo")
    finally:
        forget(settings.state_dir)

    assert result.exit_code == 1
    assert f"not answering at {url}" in result.output


def test_up_refuses_a_taken_port_before_starting_anything(aiops: Invoke) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = aiops("up", "--ingest-port", str(port))

    assert result.exit_code == 1
    assert f"port {port} on 127.0.0.1 is taken" in result.output
    assert "--ingest-port" in result.output


def test_every_command_has_help(aiops: Invoke) -> None:
    for command in (
        ["up"], ["demo"], ["migrate"], ["tenants", "create"], ["tenants", "list"],
        ["history", "import"], ["history", "show"], ["kb", "import"],
        ["inventory", "import"], ["dlq", "list"], ["dlq", "replay"], ["sql"],
        ["retention", "show"], ["retention", "set"], ["triage", "show"], ["triage", "set"],
    ):  # fmt: skip
        result = aiops(*command, "--help")
        assert result.exit_code == 0, (command, result.output)
        assert "Usage" in result.output


@pytest.fixture()
def root_logging() -> Iterator[None]:
    """`aiops up` sets up logging for its process; in-process runs put it back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("root_logging")
def test_up_refuses_an_app_role_that_bypasses_row_level_security(
    cli_env: dict[str, str], settings: Settings
) -> None:
    owner = {**cli_env, "AI_AGENTS_DATABASE_URL": str(settings.migration_database_url)}
    ports = ["--ingest-port", str(free_port()), "--api-port", str(free_port())]

    before = signal.getsignal(signal.SIGTERM)

    result = CliRunner().invoke(app, ["up", *ports], env=owner)

    assert result.exit_code == 1
    assert "bypasses row-level security" in result.output
    assert "ready:" not in result.output
    assert signal.getsignal(signal.SIGTERM) == before
