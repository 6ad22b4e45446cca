"""Putting a version live: its test cases run in the sandbox first, and only if every one
passes (or the caller overrides, saying why) does the version become active, in one
transaction that also records who did it."""

from __future__ import annotations

from dataclasses import dataclass

from flows.agent_sandbox import Sandbox
from warehouse import agents
from warehouse.agent_runs import RunRecord
from warehouse.agents import AgentStateError, Deployment


class TestsFailedError(Exception):
    """Some test cases fail: the version stays inactive."""

    __test__ = False  # not a pytest class, whatever its name


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False

    runs: list[RunRecord]

    @property
    def failed(self) -> int:
        return sum(1 for r in self.runs if not r.passed)

    @property
    def passed(self) -> bool:
        return self.failed == 0


def run_test_cases(sandbox: Sandbox, tenant_id: str, agent_id: str, version: int) -> TestOutcome:
    """Every test case of the version, each in the sandbox, each run stored with its trace."""
    db = sandbox.db
    with db.tenant(tenant_id) as conn:
        found = agents.get_version(conn, agent_id, version)
        if found is None:
            raise AgentStateError(f"agent {agent_id!r} has no version {version}")
        cases = agents.list_test_cases(conn, agent_id, version)
    runs = [
        sandbox.run(
            tenant_id,
            agent_id,
            version,
            found.spec,
            case.ticket,
            kind="test_case",
            case_id=case.case_id,
            expectations=case.expectations,
        )
        for case in cases
    ]
    return TestOutcome(runs)


def activate(
    sandbox: Sandbox,
    tenant_id: str,
    agent_id: str,
    version: int,
    actor: str,
    override_reason: str | None,
) -> Deployment:
    """Raises TestsFailedError (naming the failing cases) unless all pass or
    `override_reason` is given; AgentStateError when the version cannot be activated."""
    outcome = run_test_cases(sandbox, tenant_id, agent_id, version)
    if not outcome.passed and override_reason is None:
        failing = "; ".join(
            f"case {r.case_id}: {', '.join(r.failures)} (run {r.run_id})"
            for r in outcome.runs
            if not r.passed
        )
        raise TestsFailedError(
            f"{outcome.failed} of {len(outcome.runs)} test cases fail, so version {version} "
            f"stays inactive: {failing}. Fix the version (add a new one) or activate with "
            "override_reason"
        )
    with sandbox.db.tenant(tenant_id) as conn:
        if agents.count_test_cases(conn, agent_id, version) != len(outcome.runs):
            raise AgentStateError(
                f"the test cases of version {version} changed while they ran; activate again"
            )
        return agents.activate(
            conn,
            agent_id,
            version,
            actor,
            overridden=not outcome.passed,
            reason=override_reason or "",
            tests=(len(outcome.runs) - outcome.failed, len(outcome.runs)),
        )
