"""Components kept running: started in order, restarted with backoff, stopped in reverse.

A component is a child process (ingest, flow, API, Dagster) or an embedded server
(redis-server, PostgreSQL) that `aiops.embedded` started. One that keeps dying is not given
up on: the rest of the system keeps serving (ingest does not need the flow to accept
webhooks), the component is retried at the longest backoff, and it is reported in the log,
in the status file ingest and the API read for /health/ready and /metrics.
Only while starting does a component that keeps dying stop everything: that is a
configuration problem the operator must see at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx

from aiops.process_health import FAILING, RESTARTING, RUNNING, ComponentState, write_status

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: Sequence[str]
    ready_url: str | None = None  # answers 200 once the child can do its job
    # Only this child's: e.g. Dagster's storage credentials stay out of the other processes.
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # Emptied before every start: e.g. the metrics files of the previous run's workers.
    fresh_dirs: Sequence[Path] = ()


class Component(Protocol):
    """Something the supervisor starts, watches and stops."""

    @property
    def name(self) -> str: ...

    def start(self) -> None:
        """Starts it (again); raises OSError or RuntimeError when it cannot."""

    def exit_text(self) -> str | None:
        """None while it runs, else how it stopped ("killed by SIGKILL")."""

    def stop(self, timeout: float) -> None: ...


@dataclass(frozen=True)
class RestartPolicy:
    base_seconds: float = 1.0
    cap_seconds: float = 30.0
    stable_seconds: float = 60.0  # up this long, and an exit counts as a new first failure
    report_after: int = 5  # quick deaths in a row that make a component "failing"

    def delay(self, failures: int) -> float:
        """Seconds to wait before the restart that follows `failures` quick deaths."""
        return min(self.cap_seconds, self.base_seconds * 2 ** max(0, failures - 1))


class ChildFailed(RuntimeError):
    """A component could not be started; the message says which and how."""


def exit_text(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class ChildProcess:
    """A child in a session of its own: Ctrl-C in the terminal reaches only the supervisor,
    which then stops the children in order instead of all of them at once."""

    def __init__(self, spec: ChildSpec, env: Mapping[str, str]) -> None:
        self.spec = spec
        self._env = {**env, **spec.extra_env}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def start(self) -> None:
        for folder in self.spec.fresh_dirs:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(mode=0o700, parents=True)
        self.process = subprocess.Popen(
            list(self.spec.argv),
            env=self._env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def exit_text(self) -> str | None:
        if self.process is None:
            return "not started"
        code = self.process.poll()
        return None if code is None else exit_text(code)

    def stop(self, timeout: float) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.error("%s did not stop within %.0f s; killing it", self.name, timeout)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._stop_leftovers(process.pid, timeout)

    def _stop_leftovers(self, group: int, timeout: float) -> None:
        """Processes the child started outlive it in its process group (a Dagster run
        worker the daemon launched keeps running its asset): they stop with it."""
        if not _group_alive(group):
            return
        log.info("stopping what %s left running", self.name)
        os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _group_alive(group):
            if time.monotonic() > deadline:
                log.error("what %s left did not stop within %.0f s; killing it", self.name, timeout)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)
                return
            time.sleep(0.05)


@dataclass
class _Watch:
    component: Component
    ready_url: str | None = None
    started_at: float = 0.0
    failures: int = 0  # quick deaths in a row
    restarts: int = 0
    last_exit: str | None = None
    restart_at: float | None = None

    def state(self, policy: RestartPolicy) -> str:
        if self.restart_at is None:
            return RUNNING
        return FAILING if self.failures >= policy.report_after else RESTARTING


class Supervisor:
    def __init__(
        self,
        specs: Sequence[ChildSpec],
        env: Mapping[str, str],
        policy: RestartPolicy | None = None,
        *,
        servers: Sequence[Component] = (),
        status_file: Path | None = None,
    ) -> None:
        """`servers` run already (the embedded ones) and come first: they stop last."""
        self._watches = [_Watch(s) for s in servers]
        self._watches += [_Watch(ChildProcess(s, env), s.ready_url) for s in specs]
        self._policy = policy or RestartPolicy()
        self._status_file = status_file
        self._reported: list[ComponentState] = []
        self._running_already = len(servers)
        for watch in self._watches[: len(servers)]:
            watch.started_at = time.monotonic()

    @property
    def components(self) -> list[Component]:
        return [w.component for w in self._watches]

    def states(self) -> list[ComponentState]:
        return [
            ComponentState(w.component.name, w.state(self._policy), w.restarts, w.last_exit)
            for w in self._watches
        ]

    def _publish(self) -> None:
        states = self.states()
        if states != self._reported and self._status_file is not None:
            write_status(self._status_file, states)
        self._reported = states

    def _start(self, watch: _Watch) -> None:
        watch.started_at = time.monotonic()
        watch.restart_at = None
        try:
            watch.component.start()
        except (OSError, RuntimeError) as exc:
            self._died(watch, f"could not start: {exc}")

    def _died(self, watch: _Watch, how: str) -> None:
        now = time.monotonic()
        name = watch.component.name
        lived = now - watch.started_at
        watch.failures = 1 if lived >= self._policy.stable_seconds else watch.failures + 1
        watch.last_exit = how
        delay = self._policy.delay(watch.failures)
        watch.restart_at = now + delay
        if watch.failures >= self._policy.report_after:
            log.error(
                "%s keeps failing: stopped %d times in a row (last: %s); the rest keeps "
                "running and %s is retried every %.0f s",
                name,
                watch.failures,
                how,
                name,
                delay,
            )
        else:
            log.error("%s stopped (%s) after %.1f s; restarting in %.0f s", name, how, lived, delay)

    def start(self) -> None:
        for watch in self._watches[self._running_already :]:
            self._start(watch)
        self._publish()

    def wait_ready(self, timeout: float, stop: threading.Event) -> None:
        """Returns once every child with a ready URL answers 200; raises ChildFailed when one
        keeps dying while starting or the time runs out."""
        deadline = time.monotonic() + timeout
        pending = [w for w in self._watches if w.ready_url]
        with httpx.Client(timeout=1.0) as http:
            while pending and not stop.is_set():
                self.check()
                for watch in self._watches:
                    if watch.failures >= self._policy.report_after:
                        raise ChildFailed(
                            f"{watch.component.name} stopped {watch.failures} times in a row "
                            f"while starting (last: {watch.last_exit}); its log is above"
                        )
                pending = [w for w in pending if not _answers(http, w.ready_url)]
                if pending and time.monotonic() > deadline:
                    names = ", ".join(w.component.name for w in pending)
                    raise ChildFailed(f"{names} did not become ready within {timeout:.0f} s")
                if pending:
                    stop.wait(0.2)

    def check(self) -> None:
        """Notices deaths and restarts due components; never gives up on one."""
        now = time.monotonic()
        for watch in self._watches:
            if watch.restart_at is not None:
                if now >= watch.restart_at:
                    log.warning("restarting %s", watch.component.name)
                    watch.restarts += 1
                    self._start(watch)
                continue
            stopped = watch.component.exit_text()
            if stopped is not None:
                self._died(watch, stopped)
        self._publish()

    def stop(self, timeout: float = 20.0) -> None:
        """Stops components in reverse start order, each given `timeout` before SIGKILL."""
        for watch in reversed(self._watches):
            watch.component.stop(timeout)
        if self._status_file is not None:
            self._status_file.unlink(missing_ok=True)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _answers(http: httpx.Client, url: str | None) -> bool:
    if url is None:
        return True
    try:
        return http.get(url).status_code == 200
    except httpx.HTTPError:
        return False
