"""Child processes kept running: started in order, restarted with backoff, stopped in reverse.

A child that keeps dying right after it starts is a configuration problem, not bad luck:
after `give_up_after` quick deaths in a row the supervisor stops everything and says so.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: Sequence[str]
    ready_url: str | None = None  # answers 200 once the child can do its job
    # Only this child's: e.g. Dagster's storage credentials stay out of the other processes.
    extra_env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RestartPolicy:
    base_seconds: float = 1.0
    cap_seconds: float = 30.0
    stable_seconds: float = 60.0  # up this long, and an exit counts as a new first failure
    give_up_after: int = 5

    def delay(self, failures: int) -> float:
        """Seconds to wait before the restart that follows `failures` quick deaths."""
        return min(self.cap_seconds, self.base_seconds * 2 ** max(0, failures - 1))


class ChildFailed(RuntimeError):
    """A child could not be started or kept running; the message says which and how."""


@dataclass
class _Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None


def _exit_text(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class Supervisor:
    def __init__(
        self,
        specs: Sequence[ChildSpec],
        env: Mapping[str, str],
        policy: RestartPolicy | None = None,
    ) -> None:
        self._children = [_Child(spec) for spec in specs]
        self._env = dict(env)
        self._policy = policy or RestartPolicy()

    def _spawn(self, child: _Child) -> None:
        # A session of its own: Ctrl-C in the terminal reaches only the supervisor, which
        # then stops the children in order instead of all of them at once.
        child.process = subprocess.Popen(
            list(child.spec.argv),
            env={**self._env, **child.spec.extra_env},
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        child.started_at = time.monotonic()
        child.restart_at = None

    def start(self) -> None:
        for child in self._children:
            self._spawn(child)

    def wait_ready(self, timeout: float, stop: threading.Event) -> None:
        """Returns once every child with a ready URL answers 200; raises ChildFailed."""
        deadline = time.monotonic() + timeout
        pending = [c for c in self._children if c.spec.ready_url]
        with httpx.Client(timeout=1.0) as http:
            while pending and not stop.is_set():
                for child in self._children:
                    assert child.process is not None
                    code = child.process.poll()
                    if code is not None:
                        raise ChildFailed(
                            f"{child.spec.name} stopped while starting ({_exit_text(code)}); "
                            "its log is above"
                        )
                pending = [c for c in pending if not _answers(http, c.spec.ready_url)]
                if pending and time.monotonic() > deadline:
                    names = ", ".join(c.spec.name for c in pending)
                    raise ChildFailed(f"{names} did not become ready within {timeout:.0f} s")
                if pending:
                    stop.wait(0.2)

    def check(self) -> None:
        """Notices deaths and restarts due children; raises ChildFailed when it gives up."""
        now = time.monotonic()
        for child in self._children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    log.warning("restarting %s", child.spec.name)
                    self._spawn(child)
                continue
            assert child.process is not None
            code = child.process.poll()
            if code is None:
                continue
            lived = now - child.started_at
            child.failures = 1 if lived >= self._policy.stable_seconds else child.failures + 1
            if child.failures >= self._policy.give_up_after:
                raise ChildFailed(
                    f"{child.spec.name} stopped {child.failures} times in a row "
                    f"(last: {_exit_text(code)}); its log is above"
                )
            delay = self._policy.delay(child.failures)
            log.error(
                "%s stopped (%s) after %.1f s; restarting in %.0f s",
                child.spec.name,
                _exit_text(code),
                lived,
                delay,
            )
            child.restart_at = now + delay

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERMs children in reverse start order, each given `timeout` before SIGKILL."""
        for child in reversed(self._children):
            process = child.process
            if process is None or process.poll() is not None:
                continue
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.error("%s did not stop within %.0f s; killing it", child.spec.name, timeout)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _answers(http: httpx.Client, url: str | None) -> bool:
    if url is None:
        return True
    try:
        return http.get(url).status_code == 200
    except httpx.HTTPError:
        return False
