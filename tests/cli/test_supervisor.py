"""The process supervisor of `aiops up`, with real child processes."""

from __future__ import annotations

import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from aiops.crypto import SecretBox
from aiops.embedded import embedded_redis_server
from aiops.process_health import (
    FAILING,
    RUNNING,
    ComponentState,
    read_status,
    status_path,
    unhealthy,
)
from aiops.settings import Settings
from aiops.tenant_directory import publish
from cli.supervisor import ChildFailed, ChildProcess, ChildSpec, RestartPolicy, Supervisor
from cli.system import ensure_recovery_store
from ingest.app import create_app
from tests.ingest import sdp

FAST = RestartPolicy(base_seconds=0.01, cap_seconds=0.05, stable_seconds=60, report_after=3)

# Records its name on SIGTERM into argv[1], after saying it is up.
_POLITE = """
import pathlib, signal, sys, time
log = pathlib.Path(sys.argv[1])
def stop(*_):
    with log.open("a") as f:
        f.write(sys.argv[2] + " stopped\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
with log.open("a") as f:
    f.write(sys.argv[2] + " up\\n")
time.sleep(60)
"""


def _until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.02)


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RestartPolicy(base_seconds=1, cap_seconds=5)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]


def test_a_child_that_keeps_dying_is_reported_and_retried_while_the_rest_runs(
    tmp_path: Path,
) -> None:
    status = tmp_path / "supervisor.json"
    steady = ChildSpec("steady", [sys.executable, "-c", "import time; time.sleep(60)"])
    flaky = ChildSpec("flaky", [sys.executable, "-c", "raise SystemExit(3)"])
    supervisor = Supervisor([steady, flaky], {}, FAST, status_file=status)
    supervisor.start()
    try:

        def failing_and_retried() -> bool:
            supervisor.check()
            states = {s.name: s for s in read_status(status)}
            return states["flaky"].state == FAILING and states["flaky"].restarts >= 6

        _until(failing_and_retried)
        states = {s.name: s for s in read_status(status)}
        assert states["steady"] == ComponentState("steady", RUNNING, 0, None)
        assert states["flaky"].last_exit == "exit code 3"
        assert unhealthy(list(states.values())) == {
            "flaky": f"failing after {states['flaky'].restarts} restarts (last: exit code 3)"
        }
        steady_process = supervisor._watches[0].component
        assert isinstance(steady_process, ChildProcess) and steady_process.exit_text() is None
    finally:
        supervisor.stop()
    assert not status.exists()  # no supervisor, nothing reported


def test_a_child_that_keeps_dying_while_starting_stops_the_start_with_its_name() -> None:
    supervisor = Supervisor(
        [
            ChildSpec("web", [sys.executable, "-c", "import time; time.sleep(60)"],
                      ready_url="http://127.0.0.1:9/never"),
            ChildSpec("broken", [sys.executable, "-c", "raise SystemExit(2)"]),
        ],
        {},
        FAST,
    )  # fmt: skip
    supervisor.start()
    try:
        with pytest.raises(
            ChildFailed,
            match=r"broken stopped 3 times in a row while starting \(last: exit code 2\)",
        ):
            supervisor.wait_ready(30, threading.Event())
    finally:
        supervisor.stop()


def test_a_dead_child_is_restarted(tmp_path: Path) -> None:
    marker = tmp_path / "crashed-once"
    script = (
        "import pathlib, sys, time\n"
        f"m = pathlib.Path({str(marker)!r})\n"
        "if not m.exists():\n    m.touch(); sys.exit(1)\n"
        "time.sleep(60)\n"
    )
    supervisor = Supervisor([ChildSpec("worker", [sys.executable, "-c", script])], {}, FAST)
    supervisor.start()
    try:
        _until(marker.exists)
        restarted = []

        def alive_again() -> bool:
            supervisor.check()
            watch = supervisor._watches[0]
            child = watch.component
            assert isinstance(child, ChildProcess)
            if child.process is not None and child.exit_text() is None and watch.failures:
                restarted.append(child.process.pid)
            return bool(restarted)

        _until(alive_again)
    finally:
        supervisor.stop()


def test_children_stop_in_reverse_start_order(tmp_path: Path) -> None:
    log = tmp_path / "log"
    specs = [
        ChildSpec(name, [sys.executable, "-c", _POLITE, str(log), name])
        for name in ("api", "flow", "ingest")
    ]
    supervisor = Supervisor(specs, {}, FAST)
    supervisor.start()
    _until(lambda: log.exists() and log.read_text().count(" up") == 3)

    supervisor.stop(timeout=10)

    stopped = [line for line in log.read_text().splitlines() if line.endswith("stopped")]
    assert stopped == ["ingest stopped", "flow stopped", "api stopped"]


def test_wait_ready_waits_for_the_ready_url(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ChildSpec(
        "web",
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(tmp_path)],
        ready_url=f"http://127.0.0.1:{port}/",
    )  # fmt: skip
    supervisor = Supervisor([server], {}, FAST)
    supervisor.start()
    try:
        supervisor.wait_ready(30, threading.Event())
    finally:
        supervisor.stop()


def test_a_child_ignoring_its_stop_signal_is_killed(tmp_path: Path) -> None:
    ignoring = tmp_path / "ignoring"
    stubborn = (
        "import pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "pathlib.Path(sys.argv[1]).touch()\n"
        "time.sleep(60)\n"
    )
    supervisor = Supervisor(
        [ChildSpec("stubborn", [sys.executable, "-c", stubborn, str(ignoring)])],
        {},
        FAST,
    )
    supervisor.start()
    _until(ignoring.exists)

    supervisor.stop(timeout=0.5)

    child = supervisor._watches[0].component
    assert isinstance(child, ChildProcess)
    process = child.process
    assert process is not None and process.returncode == -signal.SIGKILL


def test_recovery_store_is_created_once(tmp_path: Path) -> None:
    store = tmp_path / "recovery"

    assert ensure_recovery_store(store, 3) == 3
    assert ensure_recovery_store(store, 5) == 3
    assert sorted(p.name for p in store.iterdir()) == [f"part-{i}.sqlite3" for i in range(3)]


def test_a_childs_extra_environment_reaches_that_child_only(tmp_path: Path) -> None:
    script = (
        "import os, pathlib, sys; pathlib.Path(sys.argv[1]).write_text(os.environ.get('X', '-'))"
    )
    specs = [
        ChildSpec(
            "with", [sys.executable, "-c", script, str(tmp_path / "with")], extra_env={"X": "1"}
        ),
        ChildSpec("without", [sys.executable, "-c", script, str(tmp_path / "without")]),
    ]
    supervisor = Supervisor(specs, {"X": "base", "PATH": "/usr/bin:/bin"}, FAST)
    supervisor.start()
    try:
        _until(lambda: (tmp_path / "with").exists() and (tmp_path / "without").exists())
    finally:
        supervisor.stop()
    assert (tmp_path / "with").read_text() == "1"
    assert (tmp_path / "without").read_text() == "base"


def test_a_killed_embedded_redis_comes_back_and_ingest_accepts_webhooks_again(
    settings: Settings, box: SecretBox, tenant_id: str
) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="aiops-s-", dir="/tmp") as state,
        embedded_redis_server(Path(state)) as server,
    ):
        private = settings.model_copy(update={"redis_url": server.url, "state_dir": Path(state)})
        with redis.Redis.from_url(server.url) as direct:
            publish(direct, private.stream_prefix, box, tenant_id, "servicedesk", [sdp.SECRET])
        status = status_path(Path(state))
        supervisor = Supervisor([], {}, FAST, servers=[server], status_file=status)
        supervisor.start()
        with TestClient(create_app(private)) as ingest:
            assert _webhook(ingest, tenant_id, "1") == 202
            first = server.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            _until(lambda: server.exit_text() is not None)
            assert _webhook(ingest, tenant_id, "2") == 503
            assert ingest.get("/health/ready").status_code == 503

            def back() -> bool:
                supervisor.check()
                return server.pid != first and server.exit_text() is None

            _until(back)
            assert _webhook(ingest, tenant_id, "2") == 202
            ready = ingest.get("/health/ready")
            assert ready.status_code == 200 and ready.json()["status"] == "ready"
            assert read_status(status) == [ComponentState("redis", RUNNING, 1, "killed by SIGKILL")]
            metrics = ingest.get("/metrics").text
            assert 'aiops_component_restarts_total{component="redis"} 1.0' in metrics
        supervisor.stop()


def _webhook(ingest: TestClient, tenant_id: str, ticket_id: str) -> int:
    raw = sdp.body(ticket_id)
    return ingest.post(
        "/webhook/servicedesk",
        params={"tenant": tenant_id},
        content=raw,
        headers=sdp.headers(raw, delivery_id=f"d-{ticket_id}"),
    ).status_code


def test_what_a_child_started_stops_with_it(tmp_path: Path) -> None:
    """A Dagster daemon's run worker stays in the daemon's process group after the daemon
    exits; `aiops up` must not leave it running."""
    grandchild_pid = tmp_path / "grandchild.pid"
    # The parent exits at SIGTERM at once; its own child ignores nothing but is not waited for.
    parent = (
        "import pathlib, signal, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "pathlib.Path(sys.argv[1]).write_text(str(child.pid))\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "time.sleep(60)\n"
    )
    supervisor = Supervisor(
        [ChildSpec("daemon", [sys.executable, "-c", parent, str(grandchild_pid)])], {}, FAST
    )
    supervisor.start()
    _until(lambda: grandchild_pid.exists() and grandchild_pid.read_text() != "")
    pid = int(grandchild_pid.read_text())

    supervisor.stop(timeout=5)

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie waiting for init to reap it has stopped running.
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")

    _until(gone, seconds=5)
