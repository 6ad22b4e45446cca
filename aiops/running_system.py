"""Where the system `aiops up` runs can be reached, for commands run beside it.

`aiops up --ingest-port 9100` must not leave `aiops tenants create` in another terminal
printing webhook URLs on the default port: the running system writes its addresses into
the state folder, and commands read them (falling back to their settings when no
`aiops up` is running there).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunningSystem:
    ingest_base_url: str  # how ITSMs reach ingest (AI_AGENTS_PUBLIC_BASE_URL or host:port)
    ingest_url: str  # how this machine reaches ingest
    api_url: str


def _path(state_dir: Path) -> Path:
    return state_dir.resolve() / "running.json"


def announce(state_dir: Path, system: RunningSystem) -> Path:
    path = _path(state_dir)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({"pid": os.getpid(), **asdict(system)}))
    partial.replace(path)
    return path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_system(state_dir: Path) -> RunningSystem | None:
    """The addresses of the `aiops up` running on this state folder, if one is."""
    try:
        document = json.loads(_path(state_dir).read_text())
        pid = int(document.pop("pid"))
        system = RunningSystem(**document)
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    return system if pid > 0 and alive(pid) else None


def forget(state_dir: Path) -> None:
    _path(state_dir).unlink(missing_ok=True)
