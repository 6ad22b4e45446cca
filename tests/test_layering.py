"""Dependencies point one way (DESIGN.md, "Folders"): aiops -> itsm, warehouse -> ingest,
flows, api -> assets, cli. Read from the source, so a lazy import inside a function
counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("aiops", "itsm", "warehouse", "ingest", "flows", "api", "assets", "cli")
MAY_IMPORT = {
    "aiops": set(),
    "itsm": {"aiops"},
    "warehouse": {"aiops"},
    "ingest": {"aiops", "itsm"},
    "flows": {"aiops", "itsm", "warehouse"},
    "api": {"aiops", "itsm", "warehouse"},
}


def _imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(OURS)


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(_imported(path) - MAY_IMPORT[package] - {package})
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    }
    assert {path: names for path, names in wrong.items() if names} == {}
