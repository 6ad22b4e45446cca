"""The whole system as a user runs it: `aiops up` in one process, the `aiops` command in
others, webhooks over HTTP, ServiceDesk Plus and OpenAI stood in for on loopback.

The flow is SIGKILLed while webhooks are in flight: after the supervisor restarts it,
every event still has exactly one note on its ticket. Afterwards no log the processes
wrote holds any secret used in the run, nor a password planted in a ticket's text.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from secrets import token_hex
from typing import Any

import httpx
import pytest

from aiops.embedded import redis_server_binary
from aiops.running_system import running_system
from tests.fakes.loopback import free_port
from tests.fakes.openai_server import OpenAiServer
from tests.fakes.sdp_server import SdpServer
from tests.ingest import sdp

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_SECONDS = 180
COMMAND_SECONDS = 60
ENHANCE_SECONDS = 90
RESTART_SECONDS = 60
STOP_SECONDS = 60
DISTINCTIVE = "Raised the MTU of the FortiGate tunnel to 1400 (change ZEBRA-7731)"
SUBJECT = "VPN drops every few minutes"


def _until(what: str, condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:.0f} s")
        time.sleep(0.25)


def _processes_of(state: Path) -> dict[int, str]:
    """Live processes that belong to the system in `state`: its folder is on their command
    line (PostgreSQL, Redis, Dagster code servers) or in their environment (every child)."""
    needle = str(state).encode()
    marker = b"AI_AGENTS_STATE_DIR=" + needle + b"\0"
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes() + b"\0"
            status = (entry / "status").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if "\nState:\tZ" in status:
            continue  # exited, waiting for its parent to reap it
        if needle in cmdline or marker in environ:
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")[:200]
    return found


def _log_files(system: System) -> list[Path]:
    """What the processes wrote: the terminal of `aiops up` (children inherit it), and
    every file under the state folder that is a log or sits in a folder of logs
    (PostgreSQL's `log`, `redis.log`, Dagster's compute logs)."""
    found = [system.log]
    for path in system.state.rglob("*"):
        parts = path.relative_to(system.state).parts
        if path.is_file() and (
            path.suffix in (".out", ".err") or any("log" in part.lower() for part in parts)
        ):
            found.append(path)
    return list(dict.fromkeys(found))


def _flow_pid(state: Path) -> int | None:
    flows = [pid for pid, cmd in _processes_of(state).items() if "bytewax.run" in cmd]
    return flows[0] if len(flows) == 1 else None


@dataclass
class System:
    state: Path
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes]
    ingest: str
    api: str
    dagster: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def aiops(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "cli", *args],
            env=self.env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS,
        )
        assert done.returncode == 0, f"aiops {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def admin(self) -> dict[str, str]:
        token = (self.state / "admin.token").read_text().strip()
        return {"Authorization": f"Bearer {token}"}


def _stop(system: System) -> None:
    """Teardown for a failed test: the system and anything of it left behind."""
    if system.process.poll() is None:
        system.process.send_signal(signal.SIGTERM)
        try:
            system.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            system.process.kill()
            system.process.wait()
    for pid in _processes_of(system.state):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture()
def llm() -> Iterator[OpenAiServer]:
    # Keys unlike anything else, so finding one in a log means it was logged.
    with OpenAiServer(api_key=f"sk-e2e-{token_hex(16)}") as server:
        yield server


@pytest.fixture()
def servicedesk() -> Iterator[SdpServer]:
    with SdpServer(flavor="onprem", api_key=f"sdp-e2e-{token_hex(16)}") as server:
        yield server


@pytest.fixture()
def system(llm: OpenAiServer) -> Iterator[System]:
    # Short: the embedded servers' Unix sockets live in it.
    state = Path(tempfile.mkdtemp(prefix="aiops-e2e-", dir="/tmp"))
    names = ("INGEST", "API", "DAGSTER", "FLOW_METRICS", "SANDBOX_WORKER")
    ports = {name: free_port() for name in names}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_AGENTS_")}
    env.update(
        {
            "AI_AGENTS_STATE_DIR": str(state),
            "AI_AGENTS_HOST": "127.0.0.1",
            **{f"AI_AGENTS_{name}_PORT": str(port) for name, port in ports.items()},
            "AI_AGENTS_LLM_MODEL": "openai/gpt-4o-mini",
            "AI_AGENTS_LLM_API_BASE": llm.base_url,
            "AI_AGENTS_LLM_API_KEY": llm.api_key,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "PYTHONUNBUFFERED": "1",
        }
    )
    log = state / "up.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "up"],
            env=env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = System(
        state=state,
        env=env,
        log=log,
        process=process,
        ingest=f"http://127.0.0.1:{ports['INGEST']}",
        api=f"http://127.0.0.1:{ports['API']}",
        dagster=f"http://127.0.0.1:{ports['DAGSTER']}",
    )
    try:
        with _log_on_failure(running):
            _until(
                "the ready: line",
                lambda: process.poll() is not None or "\nready:" in running.output(),
                READY_SECONDS,
            )
            assert process.poll() is None, "aiops up stopped while starting"
        yield running
    finally:
        _stop(running)
        shutil.rmtree(state, ignore_errors=True)


@contextlib.contextmanager
def _log_on_failure(system: System) -> Iterator[None]:
    try:
        yield
    except BaseException:
        print(f"----- aiops up output -----\n{system.output()[-30000:]}")
        raise


def _history_csv(folder: Path) -> Path:
    path = folder / "resolved.csv"
    path.write_text(
        "id,subject,description,resolution\n"
        f'H-1,VPN drops every few minutes for remote staff,"The VPN client disconnects '
        f'every few minutes since this morning.","{DISTINCTIVE}"\n'
        "H-2,Printer on floor 3 jams,Paper jams in tray 2,Replaced the tray 2 roller\n"
    )
    return path


def _post(
    system: System, url: str, secret: str, ticket_id: str, description: str | None = None
) -> dict[str, Any]:
    fields = {"description": description} if description is not None else {}
    raw = sdp.body(ticket_id, subject=SUBJECT, **fields)
    headers = sdp.headers(raw, secret, delivery_id=f"delivery-{ticket_id}")
    response = httpx.post(url, content=raw, headers=headers, timeout=10)
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _notes_by_ticket(servicedesk: SdpServer, tickets: list[str]) -> dict[str, int]:
    return {t: len(servicedesk.notes(t)) for t in tickets}


def _enhancements(system: System) -> dict[str, str]:
    response = httpx.get(
        f"{system.api}/tenants/acme/enhancements",
        params={"limit": 100},
        headers=system.admin(),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return {row["event_id"]: row["status"] for row in response.json()}


def _sandbox_runs_in_the_worker(system: System, servicedesk: SdpServer) -> None:
    """`aiops up` runs the sandbox worker: the API's sandbox answers with production's
    stages, and nothing reaches the ticketing system or the history."""
    worker = f"http://127.0.0.1:{system.env['AI_AGENTS_SANDBOX_WORKER_PORT']}"
    assert httpx.get(f"{worker}/health/ready", timeout=10).status_code == 200
    agents = f"{system.api}/tenants/acme/agents"
    made = httpx.post(
        agents, json={"agent_id": "vpn", "name": "VPN", "spec": {}}, headers=system.admin()
    )
    assert made.status_code == 201, made.text
    ticket = {"id": "S-1", "subject": SUBJECT, "description": "The VPN drops."}
    answer = httpx.post(
        f"{agents}/vpn/versions/1/sandbox",
        json={"ticket": ticket},
        headers=system.admin(),
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    run = answer.json()
    assert run["status"] == "succeeded", run["error"]
    names = [stage["name"] for stage in run["stages"]]
    assert {"noise", "triage", "similar_tickets", "prompt", "model", "note"} <= set(names)
    assert DISTINCTIVE in str(run["stages"])  # the imported history was searched
    assert servicedesk.note_posts == 0 and _enhancements(system) == {}
    metrics = httpx.get(f"{worker}/metrics", timeout=10).text
    assert 'aiops_sandbox_jobs_total{kind="sandbox",status="done"} 1.0' in metrics


def test_webhooks_become_notes_once_each_through_a_flow_crash(
    system: System, llm: OpenAiServer, servicedesk: SdpServer, tmp_path: Path
) -> None:
    with _log_on_failure(system):
        assert httpx.get(f"{system.dagster}/server_info", timeout=10).status_code == 200

        created = system.aiops(
            "tenants", "create", "acme", "--name", "Acme Corp",
            "--servicedesk-url", servicedesk.base_url,
            "--servicedesk-key", servicedesk.api_key,
        )  # fmt: skip
        secret = created.split("Signing secret", 1)[1].splitlines()[1].strip()
        webhook = re.search(r"new requests:\s+(\S+)", created)
        assert secret and webhook is not None, created
        assert webhook.group(1).startswith(system.ingest)
        system.aiops("history", "import", str(_history_csv(tmp_path)), "--tenant", "acme")
        _sandbox_runs_in_the_worker(system, servicedesk)

        tickets = [str(n) for n in range(5001, 5009)]
        for ticket in tickets:
            servicedesk.add_request(sdp.request_object(ticket, subject=SUBJECT))
        events: dict[str, str] = {}

        # Before any crash: notes written, drafted from a prompt with the imported history.
        # The first ticket's requester pasted a password into it.
        planted = f"Pl4nted-{token_hex(8)}"
        pasted = f"<div>The VPN drops. My password: {planted} in case you need it.</div>"
        events[tickets[0]] = _post(system, webhook.group(1), secret, tickets[0], pasted)["event_id"]
        for ticket in tickets[1:3]:
            events[ticket] = _post(system, webhook.group(1), secret, ticket)["event_id"]
        _until(
            "a note on each of the first tickets",
            lambda: all(n >= 1 for n in _notes_by_ticket(servicedesk, tickets[:3]).values()),
            ENHANCE_SECONDS,
        )
        prompts = [str(r["messages"]) for r in llm.requests]
        assert prompts and all(DISTINCTIVE in p for p in prompts), prompts[:1]
        assert all(planted not in p for p in prompts)
        for ticket in tickets[:3]:
            (note,) = servicedesk.notes(ticket)
            assert "Suggested next steps" in note["description"]
            assert f"[AI Ops ref {events[ticket]}]" in note["description"]
        _until(
            "the first enhancements recorded as succeeded",
            lambda: all(_enhancements(system).get(events[t]) == "succeeded" for t in tickets[:3]),
            ENHANCE_SECONDS,
        )
        stored = httpx.get(
            f"{system.api}/tenants/acme/enhancements/{events[tickets[0]]}",
            headers=system.admin(),
            timeout=10,
        ).json()["prompt"]
        assert "My password: [REDACTED:password] in case you need it." in stored
        assert planted not in stored

        # The flow dies mid-stream, between posting a note and learning that it did (the
        # stand-in stores the note, then answers late); webhooks keep arriving, one of them
        # a re-delivery.
        first_flow = _flow_pid(system.state)
        assert first_flow is not None, _processes_of(system.state)
        servicedesk.note_delay_seconds = 5.0
        for ticket in tickets[3:6]:
            events[ticket] = _post(system, webhook.group(1), secret, ticket)["event_id"]
        _until(
            "a note stored while its answer is pending",
            lambda: any(_notes_by_ticket(servicedesk, tickets[3:6]).values()),
            ENHANCE_SECONDS,
        )
        os.kill(first_flow, signal.SIGKILL)
        servicedesk.note_delay_seconds = 0.0
        for ticket in tickets[6:]:
            events[ticket] = _post(system, webhook.group(1), secret, ticket)["event_id"]
        again = _post(system, webhook.group(1), secret, tickets[0])
        assert again["event_id"] == events[tickets[0]]

        _until(
            "the flow restarted by the supervisor",
            lambda: _flow_pid(system.state) not in (None, first_flow),
            RESTART_SECONDS,
        )
        _until(
            "every enhancement recorded as succeeded",
            lambda: all(_enhancements(system).get(events[t]) == "succeeded" for t in tickets),
            ENHANCE_SECONDS,
        )
        _until(
            "a note on every ticket",
            lambda: all(n >= 1 for n in _notes_by_ticket(servicedesk, tickets).values()),
            ENHANCE_SECONDS,
        )
        # Replays after the restart come from the stream behind these events; a second
        # note, if any, would show up within a few polls.
        for _ in range(8):
            assert _notes_by_ticket(servicedesk, tickets) == {t: 1 for t in tickets}
            time.sleep(0.25)
        for ticket in tickets:
            (note,) = servicedesk.notes(ticket)
            assert f"[AI Ops ref {events[ticket]}]" in note["description"]

        # Ctrl-C: an orderly stop that leaves nothing running.
        system.process.send_signal(signal.SIGINT)
        try:
            code = system.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"aiops up still running {STOP_SECONDS} s after SIGINT") from None
        assert code == 0
        assert "AI Ops stopped" in system.output()
        _until("every process of the system gone", lambda: not _processes_of(system.state), 10)

        used = {
            "webhook secret": secret,
            "ServiceDesk Plus API key": servicedesk.api_key,
            "LLM API key": llm.api_key,
            "admin token": system.admin()["Authorization"].removeprefix("Bearer "),
            "master key": (system.state / "master.key").read_text().strip(),
            "password planted in a ticket": planted,
        }
        leaks = [
            f"the {what} is in {path}"
            for path in _log_files(system)
            for what, value in used.items()
            if value.encode() in path.read_bytes()
        ]
        assert not leaks, leaks


def _redis_server_pid(state: Path) -> int | None:
    # redis-server on Python 3.11, valkey-server on 3.12 (aiops.embedded).
    server = Path(redis_server_binary()).name
    found = [pid for pid, cmd in _processes_of(state).items() if server in cmd]
    return found[0] if len(found) == 1 else None


def _postmaster_pid(state: Path) -> int | None:
    try:
        return int((state / "postgres" / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def _ready(url: str) -> httpx.Response | None:
    try:
        return httpx.get(f"{url}/health/ready", timeout=5)
    except httpx.HTTPError:
        return None


def test_killed_servers_and_a_crashing_flow_heal_while_ingest_keeps_answering(
    system: System, servicedesk: SdpServer
) -> None:
    with _log_on_failure(system):
        created = system.aiops(
            "tenants", "create", "acme", "--name", "Acme Corp",
            "--servicedesk-url", servicedesk.base_url,
            "--servicedesk-key", servicedesk.api_key,
        )  # fmt: skip
        secret = created.split("Signing secret", 1)[1].splitlines()[1].strip()
        webhook = re.search(r"new requests:\s+(\S+)", created)
        assert webhook is not None, created
        tickets = iter(str(n) for n in range(7001, 7100))
        _post(system, webhook.group(1), secret, next(tickets))
        announced = running_system(system.state)
        assert announced is not None and announced.ingest_url == system.ingest

        # Redis killed: 503 while it is down, then the supervisor brings it back.
        first_redis = _redis_server_pid(system.state)
        assert first_redis is not None, _processes_of(system.state)
        os.kill(first_redis, signal.SIGKILL)
        _until(
            "redis-server restarted",
            lambda: _redis_server_pid(system.state) not in (None, first_redis),
            RESTART_SECONDS,
        )
        _until(
            "ingest ready again",
            lambda: (r := _ready(system.ingest)) is not None and r.status_code == 200,
            RESTART_SECONDS,
        )
        _post(system, webhook.group(1), secret, next(tickets))

        # PostgreSQL killed: restarted by pg_ctl as pgserver's user, the API ready again.
        first_postgres = _postmaster_pid(system.state)
        assert first_postgres is not None
        os.kill(first_postgres, signal.SIGKILL)
        _until(
            "PostgreSQL restarted",
            lambda: (
                _postmaster_pid(system.state) not in (None, first_postgres)
                and (r := _ready(system.api)) is not None
                and r.status_code == 200
            ),
            RESTART_SECONDS * 2,
        )

        # The flow killed every time it comes up: webhooks are still accepted, and once it
        # keeps failing both /health/ready name it.
        killed: set[int] = set()
        for _ in range(5):
            _until(
                "a new flow process",
                lambda: _flow_pid(system.state) not in (None, *killed),
                RESTART_SECONDS,
            )
            pid = _flow_pid(system.state)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
            _post(system, webhook.group(1), secret, next(tickets))
        _until(
            "the flow reported as failing",
            lambda: (
                "flow" in (_ready(system.ingest) or httpx.Response(500)).json().get("degraded", {})
            ),
            RESTART_SECONDS,
        )
        ingest_ready = _ready(system.ingest)
        api_ready = _ready(system.api)
        assert ingest_ready is not None and ingest_ready.status_code == 200
        assert ingest_ready.json()["degraded"]["flow"].startswith("failing after")
        assert api_ready is not None and "flow" in api_ready.json()["degraded"]
        _post(system, webhook.group(1), secret, next(tickets))
        metrics = httpx.get(f"{system.ingest}/metrics", timeout=5).text
        assert 'aiops_component_up{component="flow"} 0.0' in metrics
        assert "flow keeps failing" in system.output()

        # Ctrl-C: an orderly stop that leaves nothing running.
        system.process.send_signal(signal.SIGINT)
        assert system.process.wait(timeout=STOP_SECONDS) == 0
        _until("every process of the system gone", lambda: not _processes_of(system.state), 10)
        assert not (system.state / "running.json").exists()
        assert not (system.state / "supervisor.json").exists()
