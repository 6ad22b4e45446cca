"""What the supervisor of `aiops up` knows about its components, for the others to report.

The supervisor writes one small JSON file in the state folder whenever a component's state
changes; ingest and the API read it in /health/ready and /metrics, so an operator asking
any of them learns which part is down. Without a supervisor (Kubernetes) there is no file
and nothing is reported here: the orchestrator watches the processes itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from aiops.running_system import alive

RUNNING = "running"
RESTARTING = "restarting"  # stopped, a restart is due after its backoff
FAILING = "failing"  # stopped quickly many times in a row; still retried at the longest backoff


@dataclass(frozen=True)
class ComponentState:
    name: str
    state: str
    restarts: int
    last_exit: str | None = None


def status_path(state_dir: Path) -> Path:
    return state_dir.resolve() / "supervisor.json"


def write_status(path: Path, states: Sequence[ComponentState]) -> None:
    """Atomically: a reader never sees half a file."""
    partial = path.with_name(path.name + ".partial")
    document = {"pid": os.getpid(), "components": [asdict(s) for s in states]}
    partial.write_text(json.dumps(document))
    partial.replace(path)


def read_status(path: Path) -> list[ComponentState]:
    """The states the running supervisor wrote; none if there is no supervisor (any more)."""
    try:
        document = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return []
    if not isinstance(document, dict) or not alive(int(document.get("pid", 0)) or -1):
        return []
    return [ComponentState(**c) for c in document.get("components", [])]


def unhealthy(states: Sequence[ComponentState]) -> dict[str, str]:
    """Component name -> what is wrong, for a readiness answer."""
    return {
        s.name: f"{s.state} after {s.restarts} restarts (last: {s.last_exit})"
        for s in states
        if s.state != RUNNING
    }


class SupervisedComponents(Collector):
    """aiops_component_up{component} and aiops_component_restarts_total{component}."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        states = read_status(self._path)
        up = GaugeMetricFamily(
            "aiops_component_up",
            "1 while a component supervised by `aiops up` runs, 0 while it is down.",
            labels=["component"],
        )
        restarts = CounterMetricFamily(
            "aiops_component_restarts",
            "Restarts of a component supervised by `aiops up`.",
            labels=["component"],
        )
        for s in states:
            up.add_metric([s.name], 1.0 if s.state == RUNNING else 0.0)
            restarts.add_metric([s.name], float(s.restarts))
        yield up
        yield restarts
