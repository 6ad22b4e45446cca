"""The Jira webhook bodies the tests read: ours (tests/fixtures/itsm/jira) and the shared
real capture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import FIXTURES

OWN = Path(__file__).resolve().parents[1] / "fixtures" / "itsm" / "jira"
SHARED_CAPTURE = FIXTURES / "itsm" / "jira_cloud_issue_created.json"


def load(name: str) -> dict[str, Any]:
    path = SHARED_CAPTURE if name == SHARED_CAPTURE.name else OWN / name
    body: dict[str, Any] = json.loads(path.read_text())
    return body
