"""The process supervisor of `aiops up`, with real child processes."""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.supervisor import ChildFailed, ChildSpec, RestartPolicy, Supervisor
from cli.system import ensure_recovery_store

FAST = RestartPolicy(base_seconds=0.01, cap_seconds=0.05, stable_seconds=60, give_up_after=3)

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


def test_a_child_that_keeps_dying_stops_everything_with_its_name() -> None:
    supervisor = Supervisor(
        [ChildSpec("flaky", [sys.executable, "-c", "raise SystemExit(3)"])], {}, FAST
    )
    supervisor.start()
    with pytest.raises(ChildFailed, match=r"flaky stopped 3 times in a row \(last: exit code 3\)"):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            supervisor.check()
            time.sleep(0.01)
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
            child = supervisor._children[0]
            if child.process is not None and child.process.poll() is None and child.failures:
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


def test_wait_ready_waits_for_the_ready_url_and_notices_early_deaths(tmp_path: Path) -> None:
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

    doomed = Supervisor(
        [
            ChildSpec("web", server.argv, ready_url="http://127.0.0.1:9/never"),
            ChildSpec("broken", [sys.executable, "-c", "raise SystemExit(2)"]),
        ],
        {},
        FAST,
    )
    doomed.start()
    try:
        with pytest.raises(ChildFailed, match=r"broken stopped while starting \(exit code 2\)"):
            doomed.wait_ready(30, threading.Event())
    finally:
        doomed.stop()


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

    process = supervisor._children[0].process
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
