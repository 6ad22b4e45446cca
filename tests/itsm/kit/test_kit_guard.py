"""A plugin registered without kit material fails the kit (run in a child pytest)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
KIT = Path(__file__).with_name("test_conformance.py")


def test_a_registered_plugin_without_kit_material_fails_the_kit() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(KIT),
            "-p",
            "tests.itsm.kit.kitless_plugin",
            "-p",
            "no:cacheprovider",
            "-k",
            "kitless",
            "-q",
            "-rf",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    # A test fails, or errors in its material fixture: both count against the plugin.
    broken = sum(int(n) for n in re.findall(r"(\d+) (?:failed|errors?)\b", output))
    assert broken >= 10, output
    assert " passed" not in output, output  # not one kit test passes for it
    assert "'kitless' is registered but has no conformance kit material" in output
