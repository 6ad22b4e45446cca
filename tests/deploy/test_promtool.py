"""The alert rules as Prometheus itself reads them: `promtool check rules`, and
`promtool test rules` with series that fire (and nearly fire) each of the ai-agents alerts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy import manifests as m

RULES = m.DEPLOY / "prometheus" / "aiops-alerts.yml"
UNIT_TESTS = Path(__file__).parent / "promtool" / "ai_agents_alerts_test.yml"


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is not installed, so the alert rules cannot be checked: install it with "
            "`apt-get install -y prometheus` (Debian/Ubuntu) or put the promtool binary from a "
            "Prometheus release on PATH"
        )
    return found


def _run(*args: str) -> str:
    done = subprocess.run([_promtool(), *args], capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def test_promtool_accepts_the_rules() -> None:
    assert "SUCCESS" in _run("check", "rules", str(RULES))


def test_each_operator_alert_fires_on_its_series_and_not_before() -> None:
    text = UNIT_TESTS.read_text()
    for alert in ("EnhancementSuccessRateLow", "QueueDepthHigh", "WorkerDown", "HighLatency"):
        assert f"alertname: {alert}" in text, alert
    assert "SUCCESS" in _run("test", "rules", str(UNIT_TESTS))


def test_a_burst_of_resembling_tickets_fires_the_incident_alert_for_its_tenant_only() -> None:
    triage_tests = UNIT_TESTS.with_name("triage_alerts_test.yml")
    assert "SUCCESS" in _run("test", "rules", str(triage_tests))
