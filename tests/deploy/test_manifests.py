"""deploy/ holds together without a cluster: manifests, image recipe, Prometheus, Grafana.

Every name a manifest uses is checked against the code that owns it: settings against
aiops.settings.Settings, commands against what `aiops up` runs (cli/system.py,
cli/dagster_processes.py) and the `aiops` typer app, probe paths against the apps'
routes, metric names and labels against the prometheus_client registries.
"""

from __future__ import annotations

import ast
import importlib
import ipaddress
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase
from pydantic import ValidationError

from aiops.crypto import generate_key
from aiops.settings import Settings
from api.metrics import ApiMetrics
from cli import dagster_processes, system
from cli.main import app as aiops_app
from flows.metrics import FlowMetrics
from ingest.metrics import IngestMetrics
from tests.deploy import manifests as m
from tests.deploy.promql import references

PREFIX = str(Settings.model_config["env_prefix"])
NAMESPACE = "aiops"
SECRET = "aiops-secrets"
CONFIG = "aiops-config"
PLACEHOLDER = "REPLACE_ME"
INTERNAL_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")
# Long-running processes and the Dagster ones, by container name.
APP_CONTAINERS = ("ingest", "api", "flow", "sandbox", "dagster-webserver", "dagster-daemon")
DAGSTER_CONTAINERS = ("dagster-webserver", "dagster-daemon", "dagster-storage")
OWNER_URL = PREFIX + "MIGRATION_DATABASE_URL"
OPERATOR_URL = PREFIX + "OPERATOR_DATABASE_URL"
DAGSTER_URL = dagster_processes.STORAGE_URL_VARIABLE


@pytest.fixture(scope="module")
def docs() -> list[m.Manifest]:
    return m.load_manifests()


@pytest.fixture(scope="module")
def secret_template(docs: list[m.Manifest]) -> dict[str, str]:
    secret = [d for d in docs if d.file == m.SECRET_TEMPLATE]
    assert [d.kind for d in secret] == ["Secret"]
    assert "data" not in secret[0].doc, "the template uses stringData only"
    return {k: str(v) for k, v in secret[0].doc["stringData"].items()}


def _settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as a pod sees them: only these variables, no .env file."""
    for name in list(os.environ):
        if name.startswith(PREFIX):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def pod_settings(
    docs: list[m.Manifest],
    secret_template: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Settings:
    env = {
        **m.config_data(docs, CONFIG),
        **_filled_in(secret_template),
        PREFIX + "STATE_DIR": str(tmp_path),
    }
    return _settings_from(env, monkeypatch)


def _filled_in(template: dict[str, str]) -> dict[str, str]:
    """The template as the README tells an operator to fill it: the keys that production
    checks the shape of get real values (URLs and the LLM key keep their placeholders)."""
    return {
        **template,
        PREFIX + "ENCRYPTION_KEY": generate_key(),
        PREFIX + "ADMIN_TOKEN": secrets.token_urlsafe(32),
    }


def test_the_template_applied_unfilled_is_refused(
    docs: list[m.Manifest], secret_template: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**m.config_data(docs, CONFIG), **secret_template}
    with pytest.raises(ValidationError, match="AI_AGENTS_ADMIN_TOKEN must be at least"):
        _settings_from(env, monkeypatch)


def _production_secrets(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The variables production settings refuse to load without (from the validator)."""
    with pytest.raises(ValidationError) as refused:
        _settings_from({PREFIX + "ENVIRONMENT": "production"}, monkeypatch)
    return set(re.findall(PREFIX + r"[A-Z0-9_]+", str(refused.value)))


def _setting_names() -> set[str]:
    return {PREFIX + field.upper() for field in Settings.model_fields}


# Files, kustomization, image ------------------------------------------------------------


def test_every_yaml_parses_and_names_its_objects(docs: list[m.Manifest]) -> None:
    for path in [*m.DEPLOY.rglob("*.yaml"), *m.DEPLOY.rglob("*.yml")]:
        assert list(yaml.safe_load_all(path.read_text())), path
    for dashboard in _dashboards():
        json.loads(dashboard.read_text())
    (namespace,) = m.of_kind(docs, "Namespace")
    assert namespace.name == NAMESPACE
    for d in docs:
        assert d.doc["apiVersion"] and d.doc["metadata"]["name"], d.file
        if d.kind != "Namespace":
            assert d.doc["metadata"]["namespace"] == NAMESPACE, (d.file, d.name)
    names = [(d.kind, d.name) for d in docs]
    assert len(names) == len(set(names)), "two objects share a kind and name"


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    listed = m.kustomization()["resources"]
    files = {p.name for p in m.manifest_files()}
    assert sorted(listed) == sorted(files - {m.SECRET_TEMPLATE})
    assert len(listed) == len(set(listed))
    # The filled-in copy the README tells you to make stays out of git.
    assert "secret.yaml" in (m.KUBERNETES / ".gitignore").read_text().split()


def test_every_container_runs_the_one_image(docs: list[m.Manifest]) -> None:
    (image,) = m.kustomization()["images"]
    assert {c.spec["image"] for c in m.containers(docs)} == {image["name"]}


def test_dockerfile_builds_the_project_as_non_root_without_secrets() -> None:
    text = (m.DEPLOY / "Dockerfile").read_text()
    assert re.findall(r"^FROM\s+(\S+)", text, re.M)[-1] == "python:3.12-slim"
    (user,) = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert user.split(":")[0] not in ("0", "root")
    instructions = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert PREFIX not in instructions, "settings arrive at run time, never in the image"
    for line in re.findall(r"^(?:ENV|ARG)\s+(.*)$", text, re.M):
        assert not re.search(r"KEY|TOKEN|SECRET|PASSWORD", line, re.I), line
    # The build stage copies every package pyproject.toml installs.
    pyproject = (m.REPO / "pyproject.toml").read_text()
    (include,) = re.findall(r"^include = \[(.*)\]", pyproject, re.M)
    packages = [name.strip(' "*') for name in include.split(",")]
    copied = re.findall(r"^COPY\s+(\S+)\s+\1$", text, re.M)
    assert sorted(packages) == sorted(copied)
    # The runtime stage keeps the Dagster files where the manifests read them.
    assert re.search(r"^COPY dagster\.yaml workspace\.yaml \./$", text, re.M)
    ignored = (m.DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {".aiops", ".env", ".git", ".venv"} <= set(ignored)


# Settings and secrets -------------------------------------------------------------------


def test_every_ai_agents_variable_named_in_deploy_is_a_setting() -> None:
    known = _setting_names()
    files = [p for p in m.DEPLOY.rglob("*") if p.is_file() and p.suffix != ".sh"]
    named = {
        (path.relative_to(m.DEPLOY).as_posix(), name)
        for path in files
        for name in re.findall(PREFIX + r"[A-Z0-9_]*[A-Z0-9]", path.read_text())
    }
    assert named, "no settings found at all"
    assert sorted(n for n in named if n[1] not in known) == []


def test_config_map_and_secret_template_load_as_production_settings(
    pod_settings: Settings, docs: list[m.Manifest]
) -> None:
    assert pod_settings.environment == "production"
    assert pod_settings.host == "0.0.0.0"
    assert pod_settings.flow_metrics_port > 0
    assert str(pod_settings.warehouse_path).startswith("/")
    for key in m.config_data(docs, CONFIG):
        assert key.startswith(PREFIX), key


def test_secret_template_holds_placeholders_only(
    secret_template: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in secret_template.items():
        assert PLACEHOLDER in value, f"{key} is not a placeholder"
        # Every credential inside a URL is a placeholder too.
        for part in re.split(r"[:/@?]+", value):
            assert (
                not part
                or PLACEHOLDER in part
                or re.fullmatch(r"postgresql(\+psycopg2)?|rediss?|\d+|aiops|dagster", part)
            ), f"{key}: {part!r}"
    required = _production_secrets(monkeypatch)
    assert required, "the production check names what it needs"
    wanted = {OWNER_URL, DAGSTER_URL, PREFIX + "LLM_API_KEY"}
    assert required | wanted <= set(secret_template)
    # dagster-postgres is written for psycopg2 (cli/dagster_processes.storage_url).
    assert secret_template[DAGSTER_URL].startswith("postgresql+psycopg2://")


def test_each_process_gets_the_secrets_it_needs_and_no_others(
    docs: list[m.Manifest], secret_template: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    required = _production_secrets(monkeypatch)
    settings = _setting_names()
    for c in m.containers(docs):
        refs = m.secret_refs(c)
        for variable, ref in refs.items():
            assert ref["name"] == SECRET and ref["key"] == variable, (c.name, variable)
            assert variable in settings
            if not ref.get("optional"):
                assert variable in secret_template, (c.name, variable)
        # As `aiops up` hands them out: the owner URL to migrations only (cli/system.py
        # child_env), Dagster's storage URL to the Dagster processes only (ChildSpec.extra_env).
        assert (OWNER_URL in refs) == (c.name == "migrate"), c.name
        assert (DAGSTER_URL in refs) == (c.name in DAGSTER_CONTAINERS), c.name
        # Only the management API creates and removes tenants.
        assert (OPERATOR_URL in refs) == (c.name == "api"), c.name
        if c.name in (*APP_CONTAINERS, "migrate"):
            assert required <= set(refs), (c.name, required - set(refs))
        assert not set(refs) & set(m.config_data(docs, CONFIG)), "a setting in both places"


# Commands -------------------------------------------------------------------------------


def _aiops_up_commands(settings: Settings) -> dict[str, list[str]]:
    """Container name -> argv as `aiops up` starts it, with the image's file locations."""
    workspace = f"{m.dockerfile_workdir()}/workspace.yaml"
    specs = [
        *system.child_specs(settings, "python"),
        *dagster_processes.dagster_specs(settings, "python", {}),
    ]
    return {
        spec.name: [
            workspace if arg == str(dagster_processes.WORKSPACE_FILE) else arg for arg in spec.argv
        ]
        for spec in specs
    }


def test_containers_run_what_aiops_up_runs(docs: list[m.Manifest], pod_settings: Settings) -> None:
    expected = _aiops_up_commands(pod_settings)
    flow = m.container(docs, "aiops-flow", "flow")
    wrapper, argv = _cluster_wrapped(flow.spec["command"])
    assert wrapper == ["sh", CLUSTER_SCRIPT, "run"]
    argv = m.expand(argv, m.environment(flow, docs))
    store = argv[argv.index("-r") + 1]
    expected["flow"] = [
        store if arg == str(system.recovery_dir(pod_settings)) else arg for arg in expected["flow"]
    ]
    running = {c.name: c.spec["command"] for c in m.containers(docs) if c.name in expected}
    running["flow"] = argv
    assert running == expected
    assert "args" not in flow.spec


def test_migration_job_runs_real_commands(docs: list[m.Manifest]) -> None:
    migrate = m.container(docs, "aiops-migrate", "migrate")
    assert migrate.spec["command"] == ["aiops", "migrate"]
    commands = typer.main.get_command(aiops_app).commands  # type: ignore[attr-defined]
    assert "migrate" in commands
    storage = m.container(docs, "aiops-migrate", "dagster-storage")
    assert storage.spec["command"] == dagster_processes.migrate_storage_command("python")
    assert not storage.init and migrate.init, "the schema first, then Dagster's tables"


def _factory(container: m.Container) -> str:
    argv = container.spec["command"]
    assert argv[:4] == ["python", "-m", "uvicorn", "--factory"]
    return str(argv[4])


def test_uvicorn_factories_build_apps_that_serve_the_probe_paths(
    docs: list[m.Manifest], pod_settings: Settings
) -> None:
    served = []
    for c in m.containers(docs):
        if c.spec["command"][:3] != ["python", "-m", "uvicorn"]:
            continue
        module, _, attribute = _factory(c).partition(":")
        factory = getattr(importlib.import_module(module), attribute)
        assert callable(factory)
        app = factory(pod_settings)
        assert isinstance(app, FastAPI)
        paths = set(app.openapi()["paths"])
        for probe in ("readinessProbe", "livenessProbe"):
            assert c.spec[probe]["httpGet"]["path"] in paths, (c.name, probe)
        served.append(c.name)
    assert sorted(served) == ["api", "ingest"]
    ingest = m.container(docs, "aiops-ingest", "ingest")
    assert ingest.spec["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert ingest.spec["livenessProbe"]["httpGet"]["path"] == "/health"


def test_flow_target_builds_a_dataflow(docs: list[m.Manifest], pod_settings: Settings) -> None:
    _, argv = _cluster_wrapped(m.container(docs, "aiops-flow", "flow").spec["command"])
    assert argv[:3] == ["python", "-m", "bytewax.run"]
    module, _, call = argv[3].partition(":")
    factory = getattr(importlib.import_module(module), call.removesuffix("()"))
    # `bytewax.run` calls it without arguments (settings from the environment); built here
    # with the pod's settings, which connects to nothing.
    assert type(factory(pod_settings)).__name__ == "Dataflow"


# Ports, probes, Services, selectors -----------------------------------------------------


def test_ports_match_the_settings_probes_and_annotations(
    docs: list[m.Manifest], pod_settings: Settings
) -> None:
    for workload, port in (
        ("aiops-ingest", pod_settings.ingest_port),
        ("aiops-api", pod_settings.api_port),
        ("aiops-dagster-webserver", pod_settings.dagster_port),
    ):
        assert m.container_ports(m.named(docs, "Deployment", workload))["http"] == port
    flow = m.named(docs, "StatefulSet", "aiops-flow")
    assert m.container_ports(flow)["metrics"] == pod_settings.flow_metrics_port
    sandbox = m.named(docs, "Deployment", "aiops-sandbox")
    assert m.container_ports(sandbox)["metrics"] == pod_settings.sandbox_worker_port
    for c in m.containers(docs):
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if probe in c.spec and "httpGet" in c.spec[probe]:
                port = c.spec[probe]["httpGet"]["port"]
                assert m.resolve_port(c.workload, port), (c.name, probe, port)
    for w in m.workloads(docs):
        annotations = m.pod_template(w)["metadata"].get("annotations", {})
        if "prometheus.io/port" in annotations:
            assert int(annotations["prometheus.io/port"]) in m.container_ports(w).values()


def test_services_select_one_workload_and_reach_its_ports(docs: list[m.Manifest]) -> None:
    for service in m.of_kind(docs, "Service"):
        spec = service.doc["spec"]
        (workload,) = m.selected_workloads(docs, spec["selector"])
        for port in spec["ports"]:
            assert m.resolve_port(workload, port["targetPort"]), (service.name, port)
    for w in m.workloads(docs):
        selector = w.doc["spec"].get("selector", {}).get("matchLabels")
        if selector is not None:
            assert m.selects(selector, m.pod_labels(w)), w.name
            assert m.selected_workloads(docs, selector) == [w], "selectors overlap"


def test_ingest_scales_on_cpu_with_two_or_more_pods(docs: list[m.Manifest]) -> None:
    (hpa,) = m.of_kind(docs, "HorizontalPodAutoscaler")
    target = hpa.doc["spec"]["scaleTargetRef"]
    ingest = m.named(docs, target["kind"], target["name"])
    assert ingest.name == "aiops-ingest"
    assert hpa.doc["spec"]["minReplicas"] >= 2
    assert [x["resource"]["name"] for x in hpa.doc["spec"]["metrics"]] == ["cpu"]
    # The HPA owns the count; CPU utilisation is measured against the request.
    assert "replicas" not in ingest.doc["spec"]
    assert m.container(docs, "aiops-ingest", "ingest").spec["resources"]["requests"]["cpu"]
    (pdb,) = m.of_kind(docs, "PodDisruptionBudget")
    assert m.selected_workloads(docs, pdb.doc["spec"]["selector"]["matchLabels"]) == [ingest]
    for c in m.containers(docs):
        assert c.spec["resources"]["requests"] and c.spec["resources"]["limits"]["memory"]


def test_dagster_daemon_is_a_single_pod_never_two(docs: list[m.Manifest]) -> None:
    daemon = m.named(docs, "Deployment", "aiops-dagster-daemon")
    assert daemon.doc["spec"]["replicas"] == 1
    assert daemon.doc["spec"]["strategy"]["type"] == "Recreate"


# Volumes --------------------------------------------------------------------------------


def test_volumes_exist_and_claims_are_shared(docs: list[m.Manifest]) -> None:
    claims = {c.name: c.doc for c in m.of_kind(docs, "PersistentVolumeClaim")}
    for c in m.containers(docs):
        volumes = {v["name"]: v for v in c.pod.get("volumes", [])}
        for mount in c.spec.get("volumeMounts", []):
            source = volumes[mount["name"]]
            claim = source.get("persistentVolumeClaim", {}).get("claimName")
            assert claim is None or claim in claims, (c.name, claim)
            if "configMap" in source:
                m.named(docs, "ConfigMap", source["configMap"]["name"])
    for claim in claims.values():
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"], claim["metadata"]["name"]


def test_flow_and_dagster_share_the_warehouse_folder(
    docs: list[m.Manifest], pod_settings: Settings
) -> None:
    for workload, name in (("aiops-flow", "flow"), ("aiops-dagster-daemon", "dagster-daemon")):
        c = m.container(docs, workload, name)
        mounted = [
            mount["mountPath"]
            for mount in c.spec["volumeMounts"]
            if m.volume(c, mount["name"]).get("persistentVolumeClaim", {}).get("claimName")
            == "aiops-warehouse"
        ]
        assert mounted == [str(pod_settings.warehouse_path)], name
    daemon = m.container(docs, "aiops-dagster-daemon", "dagster-daemon")
    assert not [x for x in daemon.spec["volumeMounts"] if x.get("readOnly")], "Dagster writes"


def test_dagster_home_holds_the_repository_dagster_yaml_with_postgres_storage(
    docs: list[m.Manifest], pod_settings: Settings
) -> None:
    source = f"{m.dockerfile_workdir()}/dagster.yaml"
    for c in m.containers(docs):
        if c.name not in DAGSTER_CONTAINERS:
            continue
        home = m.environment(c, docs)["DAGSTER_HOME"]
        (init,) = [i for i in c.pod["initContainers"] if i["name"] == "dagster-home"]
        assert init["command"] == ["cp", source, f"{home}/dagster.yaml"]
        init_mounts = {x["name"]: x["mountPath"] for x in init["volumeMounts"]}
        assert init_mounts == {"dagster-home": home}
        assert m.mount_path(c, "dagster-home") == home
        assert m.volume(c, "dagster-home") == {"name": "dagster-home", "emptyDir": {}}
    # With a database URL `aiops up` writes the repository's file unchanged: PostgreSQL
    # storage read from the variable the Dagster containers get.
    config = dagster_processes.instance_config(pod_settings, Path("/unused"))
    assert config == yaml.safe_load(dagster_processes.INSTANCE_FILE.read_text())
    assert config["storage"]["postgres"]["postgres_url"] == {"env": DAGSTER_URL}


# The flow as a Bytewax cluster ----------------------------------------------------------


CLUSTER_SCRIPT = "/etc/aiops/flow/cluster.sh"


def _cluster_wrapped(command: list[str]) -> tuple[list[str], list[str]]:
    """`sh cluster.sh run CMD...` split into the wrapper and CMD."""
    return command[:3], command[3:]


def test_flow_processes_get_ids_from_ordinals_and_addresses_from_the_headless_service(
    docs: list[m.Manifest], pod_settings: Settings
) -> None:
    flow = m.named(docs, "StatefulSet", "aiops-flow")
    spec = flow.doc["spec"]
    service = m.named(docs, "Service", spec["serviceName"])
    assert service.doc["spec"]["clusterIP"] == "None"
    assert service.doc["spec"]["publishNotReadyAddresses"] is True
    assert spec["podManagementPolicy"] == "Parallel"
    c = m.container(docs, "aiops-flow", "flow")
    env = m.environment(c, docs)
    assert {v["name"]: v for v in c.spec["env"]}["BYTEWAX_POD_NAME"]["valueFrom"]["fieldRef"][
        "fieldPath"
    ] == "metadata.name"
    assert env["BYTEWAX_STATEFULSET_NAME"] == flow.name
    assert env["FLOW_SERVICE"] == service.name
    assert int(env["FLOW_CLUSTER_PORT"] or 0) == m.container_ports(flow)["cluster"]
    assert int(env["FLOW_MAX_PROCESSES"] or 0) == pod_settings.flow_recovery_partitions
    # The hosts file is written at start, on a writable volume.
    hostfile = Path(env["BYTEWAX_HOSTFILE_PATH"] or "")
    assert m.mount_path(c, "tmp") == str(hostfile.parent)
    script = Path(CLUSTER_SCRIPT)
    assert m.mount_path(c, "cluster") == str(script.parent)
    assert script.name in m.config_data(docs, m.volume(c, "cluster")["configMap"]["name"])
    assert c.spec["livenessProbe"]["exec"]["command"] == ["sh", CLUSTER_SCRIPT, "check"]


class _FakeDns:
    """`getent hosts NAME` answering for the names in a file: the pods that exist."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        self.names = root / "names"
        self.names.write_text("")
        getent = self.bin / "getent"
        getent.write_text(
            f'#!/bin/sh\n[ "$1" = hosts ] && grep -qx "$2" {self.names} && echo "10.0.0.1 $2"\n'
        )
        getent.chmod(0o755)

    def pods(self, *ordinals: int) -> None:
        self.names.write_text("".join(f"aiops-flow-{i}.aiops-flow\n" for i in ordinals))


def _cluster_script(docs: list[m.Manifest], tmp_path: Path) -> Path:
    c = m.container(docs, "aiops-flow", "flow")
    script = tmp_path / "cluster.sh"
    name = m.volume(c, "cluster")["configMap"]["name"]
    script.write_text(m.config_data(docs, name)["cluster.sh"])
    return script


def _cluster_env(dns: _FakeDns, tmp_path: Path, pod: str) -> dict[str, str]:
    return {
        "PATH": f"{dns.bin}{os.pathsep}{os.environ['PATH']}",
        "BYTEWAX_POD_NAME": pod,
        "BYTEWAX_STATEFULSET_NAME": "aiops-flow",
        "BYTEWAX_HOSTFILE_PATH": str(tmp_path / "hosts"),
        "FLOW_SERVICE": "aiops-flow",
        "FLOW_CLUSTER_PORT": "2101",
        "FLOW_MAX_PROCESSES": "4",
        "FLOW_DNS_WAIT_SECONDS": "1",
    }


def _sh(script: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(script), *args], env=env, capture_output=True, text=True, timeout=30
    )


def test_cluster_script_lists_the_pods_that_exist_and_runs_the_process(
    docs: list[m.Manifest], tmp_path: Path
) -> None:
    script, dns = _cluster_script(docs, tmp_path), _FakeDns(tmp_path)
    dns.pods(0, 1, 2, 4)  # 3 is missing: 4 cannot be reached in ordinal order
    env = _cluster_env(dns, tmp_path, "aiops-flow-1")
    done = _sh(script, env, "run", "sh", "-c", 'echo "started with $0"', "bytewax")
    assert done.returncode == 0, done.stderr
    assert "process 1 of 3" in done.stdout and "started with bytewax" in done.stdout
    hosts = (tmp_path / "hosts").read_text().split()
    assert hosts == [f"aiops-flow-{i}.aiops-flow:2101" for i in range(3)]
    assert _sh(script, env, "check").returncode == 0

    # KEDA added a pod: the running processes' check fails, so each restarts with 4.
    dns.pods(0, 1, 2, 3)
    assert _sh(script, env, "check").returncode != 0
    assert _sh(script, env, "run", "true").returncode == 0
    assert len((tmp_path / "hosts").read_text().split()) == 4
    # And removed two.
    dns.pods(0, 1)
    assert _sh(script, env, "check").returncode != 0


def test_cluster_script_refuses_a_process_outside_its_cluster(
    docs: list[m.Manifest], tmp_path: Path
) -> None:
    script, dns = _cluster_script(docs, tmp_path), _FakeDns(tmp_path)
    dns.pods(0, 2)  # pod 1 is not in DNS yet
    started = tmp_path / "started"
    done = _sh(script, _cluster_env(dns, tmp_path, "aiops-flow-2"), "run", "touch", str(started))
    assert done.returncode == 1
    assert "process 2 is not among the 1 processes" in done.stderr
    # Its own name not resolving (yet): it gives up after the wait and is restarted.
    done = _sh(script, _cluster_env(dns, tmp_path, "aiops-flow-3"), "run", "touch", str(started))
    assert done.returncode == 1 and "does not resolve" in done.stderr
    assert not started.exists()


def _recovery_init(docs: list[m.Manifest]) -> tuple[list[str], str]:
    init = m.container(docs, "aiops-flow", "recovery-store")
    command = init.spec["command"]
    assert command[:2] == ["sh", "-c"] and "python -m bytewax.recovery" in command[2]
    return command, command[-1]


def _run_init(command: list[str], store: Path, partitions: int, host: str) -> str:
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOSTNAME": host,
        PREFIX + "FLOW_RECOVERY_PARTITIONS": str(partitions),
    }
    done = subprocess.run(
        [*command[:-1], str(store)], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_recovery_store_is_created_once_on_the_shared_volume(
    docs: list[m.Manifest], pod_settings: Settings, tmp_path: Path
) -> None:
    command, store = _recovery_init(docs)
    flow = m.container(docs, "aiops-flow", "flow")
    argv = flow.spec["command"]
    assert argv[argv.index("-r") + 1] == store
    init = m.container(docs, "aiops-flow", "recovery-store")
    mount = m.mount_path(init, "recovery")
    assert m.mount_path(flow, "recovery") == mount and Path(store).parent == Path(mount)
    assert m.environment(init, docs)[PREFIX + "FLOW_RECOVERY_PARTITIONS"] == str(
        pod_settings.flow_recovery_partitions
    )

    local = tmp_path / "recovery" / "store"
    # What a first start that was killed half-way leaves behind.
    stale = local.with_name("store.partial-aiops-flow-0")
    stale.mkdir(parents=True)
    (stale / "part-0.sqlite3").write_bytes(b"half-made")
    assert _run_init(command, local, 3, "aiops-flow-0") == ""
    parts = sorted(p.name for p in local.iterdir())
    assert parts == ["part-0.sqlite3", "part-1.sqlite3", "part-2.sqlite3"]
    stamps = [p.stat().st_mtime_ns for p in sorted(local.iterdir())]
    # Another pod, or a later start, finds the store and leaves it as it is.
    assert _run_init(command, local, 3, "aiops-flow-1") == ""
    assert [p.stat().st_mtime_ns for p in sorted(local.iterdir())] == stamps
    said = _run_init(command, local, 5, "aiops-flow-0")
    assert "keeps the 3 partitions" in said
    assert sorted(p.name for p in local.parent.iterdir()) == ["store"], "no staging left"


# Network policies -----------------------------------------------------------------------


def _policies(docs: list[m.Manifest]) -> dict[str, dict[str, Any]]:
    return {p.name: p.doc["spec"] for p in m.of_kind(docs, "NetworkPolicy")}


def _rule_ports(rule: dict[str, Any]) -> set[int]:
    assert rule.get("ports"), f"a rule without ports allows every port: {rule}"
    return {int(p["port"]) for p in rule["ports"]}


def test_network_policies_select_real_pods_and_ports(docs: list[m.Manifest]) -> None:
    policies = _policies(docs)
    assert policies["aiops-default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    for name, spec in policies.items():
        selector = spec["podSelector"].get("matchLabels")
        if selector is None:
            continue
        (workload,) = m.selected_workloads(docs, selector)
        for rule in spec.get("ingress", []):
            for port in _rule_ports(rule):
                assert m.resolve_port(workload, port), (name, port)
            for peer in rule.get("from", []):
                peer_selector = peer.get("podSelector", {}).get("matchLabels")
                if peer_selector:
                    assert m.selected_workloads(docs, peer_selector), (name, peer)
    for deployment in ("aiops-ingest", "aiops-api"):
        w = m.named(docs, "Deployment", deployment)
        (spec,) = [
            s
            for s in policies.values()
            if s["podSelector"].get("matchLabels") == w.doc["spec"]["selector"]["matchLabels"]
        ]
        open_rules = [r for r in spec["ingress"] if "from" not in r]
        # Open to every source, on the HTTP port only.
        assert [_rule_ports(r) for r in open_rules] == [{m.container_ports(w)["http"]}]


def test_egress_of_flow_sandbox_and_api_is_limited_and_keeps_out_of_internal_ranges(
    docs: list[m.Manifest],
) -> None:
    policies = _policies(docs)
    flow_cluster = m.container_ports(m.named(docs, "StatefulSet", "aiops-flow"))["cluster"]
    allowed = {
        "aiops-ingest": {53, 6379},
        "aiops-api": {53, 5432, 6379, 443},
        "aiops-flow": {53, 5432, 6379, 443, flow_cluster},
        "aiops-sandbox": {53, 5432, 6379, 443},
    }
    for name, ports in allowed.items():
        spec = policies[name]
        assert "Egress" in spec["policyTypes"]
        seen: set[int] = set()
        for rule in spec["egress"]:
            rule_ports = _rule_ports(rule)
            seen |= rule_ports
            blocks = [peer["ipBlock"] for peer in rule["to"] if "ipBlock" in peer]
            if 443 in rule_ports:
                assert rule_ports == {443} and len(blocks) == len(rule["to"]), name
                for block in blocks:
                    network = ipaddress.ip_network(block["cidr"])
                    assert network.prefixlen == 0, "HTTPS to the internet, minus…"
                    if network.version == 4:
                        assert set(INTERNAL_RANGES) <= set(block["except"]), name
            else:
                assert not [b for b in blocks if ipaddress.ip_network(b["cidr"]).is_global], name
        assert seen == ports, name


# Prometheus and Grafana -----------------------------------------------------------------


def _registered() -> dict[str, tuple[str, ...]]:
    """Sample name -> label names, for every metric the ingest, flow and API registries hold."""
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("_count", "_sum", "_created"),
    }
    names: dict[str, tuple[str, ...]] = {}
    for holder in (IngestMetrics(), FlowMetrics(), ApiMetrics()):
        registry: CollectorRegistry = holder.registry
        wrappers = [v for v in vars(holder).values() if isinstance(v, MetricWrapperBase)]
        # prometheus_client keeps a metric's label names only on the wrapper; an unused
        # labelled metric exposes no sample to read them from.
        labels = {w._name: tuple(w._labelnames) for w in wrappers}
        for family in registry.collect():
            for suffix in suffixes[family.type]:
                extra = ("le",) if suffix == "_bucket" else ()
                names[family.name + suffix] = labels[family.name] + extra
    return names


def _string_constants() -> set[str]:
    """Every string literal in our packages: the label values the code can produce."""
    found: set[str] = set()
    for package in ("aiops", "itsm", "ingest", "flows", "api"):
        for path in (m.REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found.add(node.value)
    return found


def _scrape_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(
        (m.DEPLOY / "prometheus" / "prometheus.yml").read_text()
    )
    return config


def _dashboards() -> list[Path]:
    return sorted((m.DEPLOY / "grafana").glob("*.json"))


def _alert_rules() -> dict[str, dict[str, Any]]:
    rules = yaml.safe_load((m.DEPLOY / "prometheus" / "aiops-alerts.yml").read_text())
    return {r["alert"]: r for group in rules["groups"] for r in group["rules"]}


def _scaler_queries(docs: list[m.Manifest]) -> list[tuple[str, str]]:
    return [
        (f"ScaledObject {scaler.name}", trigger["metadata"]["query"])
        for scaler in m.of_kind(docs, "ScaledObject")
        for trigger in scaler.doc["spec"]["triggers"]
    ]


def _expressions() -> list[tuple[str, str]]:
    found = [(name, rule["expr"]) for name, rule in _alert_rules().items()]
    for path in _dashboards():
        for panel in json.loads(path.read_text())["panels"]:
            found.extend((panel["title"], t["expr"]) for t in panel.get("targets", []))
    return found


def test_scrape_jobs_find_the_pods_and_ports_that_serve_metrics(docs: list[m.Manifest]) -> None:
    config = _scrape_config()
    assert (m.DEPLOY / "prometheus" / config["rule_files"][0]).is_file()
    for job in config["scrape_configs"]:
        keep = {
            r["source_labels"][0]: r["regex"]
            for r in job["relabel_configs"]
            if r.get("action") == "keep"
        }
        component = keep["__meta_kubernetes_pod_label_app_kubernetes_io_component"]
        (workload,) = m.selected_workloads(docs, {"app.kubernetes.io/component": component})
        port = keep["__meta_kubernetes_pod_container_port_name"]
        assert port in m.container_ports(workload), (job["job_name"], port)
        assert job["metrics_path"] == "/metrics"
    for module in ("ingest.routes.metrics", "api.routers.metrics"):
        routes = importlib.import_module(module).router.routes
        assert "/metrics" in {getattr(r, "path", None) for r in routes}, module
    assert {job["job_name"] for job in config["scrape_configs"]} >= {
        "aiops-ingest",
        "aiops-flow",
        "aiops-sandbox",
        "aiops-api",
    }


def test_alerts_and_dashboard_use_only_registered_metrics_and_labels(
    docs: list[m.Manifest],
) -> None:
    registered = _registered()
    constants = _string_constants()
    config = _scrape_config()
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    target_labels = {"job", "instance"} | {
        r["target_label"]
        for job in config["scrape_configs"]
        for r in job["relabel_configs"]
        if "target_label" in r
    }
    expressions = _expressions() + _scaler_queries(docs)
    assert len(expressions) > 10
    used: set[str] = set()
    for title, expr in expressions:
        refs = references(expr)
        assert refs.metrics, title
        labels = set(target_labels)
        for metric in refs.metrics:
            assert metric == "up" or metric in registered, f"{title}: unknown metric {metric}"
            labels |= set(registered.get(metric, ()))
        assert refs.grouping <= labels, (title, refs.grouping - labels)
        for metric, matcher in refs.matchers:
            if metric == "up" or matcher.label == "job":
                assert matcher.label == "job", title
                # A job named, or a regex whose alternatives are each a job.
                assert all(value in jobs for value in matcher.value.split("|")), (title, matcher)
                continue
            assert matcher.label in registered[metric], (title, matcher)
            for value in matcher.value.split("|") if "~" in matcher.op else [matcher.value]:
                pattern = value if "~" in matcher.op else re.escape(value)
                assert any(re.fullmatch(pattern, c) for c in constants), (title, value)
        used |= refs.metrics
    # Every metric the code registers is on the dashboard or in an alert.
    families = {
        name.removesuffix(s)
        for name in registered
        for s in ("_total", "_bucket")
        if name.endswith(s)
    }
    gauges = {
        n for n in registered if not n.endswith(("_total", "_created", "_bucket", "_count", "_sum"))
    }
    assert (
        families | gauges <= {u.removesuffix("_total").removesuffix("_bucket") for u in used} | used
    )


OPERATOR_METRICS = (
    "enhancement_requests_total",
    "enhancement_duration_seconds_bucket",
    "enhancement_success_rate",
    "queue_depth",
    "worker_active_count",
)


def test_operators_dashboard_shows_what_they_look_for() -> None:
    (path,) = [
        p
        for p in _dashboards()
        if json.loads(p.read_text())["title"] == "AI Agents - System Health & Performance"
    ]
    panels = json.loads(path.read_text())["panels"]
    titles = {p["title"]: p for p in panels}
    wanted = {
        "Success rate": "enhancement_requests_total",
        "Success rate by tenant": "enhancement_success_rate",
        "Queue depth": "queue_depth",
        "p95 latency": "enhancement_duration_seconds_bucket",
        "Error rate by tenant": "enhancement_requests_total",
        "Active workers": "worker_active_count",
    }
    for title, metric in wanted.items():
        exprs = [t["expr"] for t in titles[title]["targets"]]
        assert any(metric in references(e).metrics for e in exprs), title
    assert "tenant_id" in references(titles["Error rate by tenant"]["targets"][0]["expr"]).grouping
    assert "histogram_quantile(0.95" in titles["p95 latency"]["targets"][0]["expr"]
    registered = _registered()
    assert set(OPERATOR_METRICS) <= set(registered)
    assert registered["enhancement_requests_total"] == ("tenant_id", "status")
    assert registered["enhancement_success_rate"] == ("tenant_id",)
    assert registered["queue_depth"] == ("queue_name",)


def test_operators_alerts_have_their_thresholds_and_durations() -> None:
    rules = _alert_rules()
    expected = {
        "EnhancementSuccessRateLow": ("10m", "< 0.95"),
        "QueueDepthHigh": ("5m", "> 100"),
        "WorkerDown": ("2m", "< 1"),
        "HighLatency": ("5m", "> 120"),
    }
    for name, (duration, comparison) in expected.items():
        assert rules[name]["for"] == duration, name
        assert " ".join(rules[name]["expr"].split()).endswith(comparison), name
    # Ours stay beside them.
    assert {"AiopsFlowFailing", "AiopsFlowStalled", "AiopsIngestDown"} <= set(rules)


def test_flow_scales_on_queue_depth_within_its_recovery_partitions(
    docs: list[m.Manifest], pod_settings: Settings
) -> None:
    (scaler,) = m.of_kind(docs, "ScaledObject")
    assert scaler.doc["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaler.doc["spec"]
    target = spec["scaleTargetRef"]
    flow = m.named(docs, target["kind"], target["name"])
    assert (flow.kind, flow.name) == ("StatefulSet", "aiops-flow")
    assert target["apiVersion"] == flow.doc["apiVersion"]
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    assert spec["maxReplicaCount"] <= pod_settings.flow_recovery_partitions
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus"
    meta = trigger["metadata"]
    assert references(meta["query"]).metrics == {"queue_depth"}
    assert float(meta["threshold"]) > 0
    assert meta["serverAddress"].startswith("http")
    # KEDA's HPA owns the process count; a fixed count in the StatefulSet would fight it.
    assert "replicas" not in flow.doc["spec"]
