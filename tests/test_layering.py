"""The folders depend one way: aiops -> itsm/warehouse -> ingest/flows/api -> assets/cli.
A reader finds each concern in one place only while nothing imports upward or sideways."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What each package may import of ours (DESIGN.md, "Folders"). assets reads the flow's
# retrieval code to build the indexes the flow searches.
ALLOWED: dict[str, set[str]] = {
    "aiops": set(),
    "itsm": {"aiops"},
    "warehouse": {"aiops"},
    "ingest": {"aiops", "itsm"},
    "flows": {"aiops", "itsm", "warehouse"},
    "api": {"aiops", "itsm", "warehouse"},
    "assets": {"aiops", "warehouse", "flows"},
    "cli": {"aiops", "itsm", "warehouse", "ingest", "flows", "api", "assets"},
}


def _imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


def test_every_package_imports_only_the_layers_below_it() -> None:
    wrong: list[str] = []
    for package, allowed in ALLOWED.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for imported in sorted(_imported_packages(path) - allowed - {package}):
                wrong.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_every_package() -> None:
    on_disk = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} - {"tests"}
    assert on_disk == set(ALLOWED)
