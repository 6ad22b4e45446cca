"""Reading deploy/: the Kubernetes manifests as plain data, and what their pods run."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
KUSTOMIZATION = "kustomization.yaml"
SECRET_TEMPLATE = "secret.template.yaml"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")

Doc = dict[str, Any]


@dataclass(frozen=True)
class Manifest:
    file: str
    doc: Doc

    @property
    def kind(self) -> str:
        return str(self.doc["kind"])

    @property
    def name(self) -> str:
        return str(self.doc["metadata"]["name"])


@dataclass(frozen=True)
class Container:
    workload: Manifest
    spec: Doc
    init: bool

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def pod(self) -> Doc:
        return pod_spec(self.workload)


def manifest_files() -> list[Path]:
    return sorted(p for p in KUBERNETES.glob("*.yaml") if p.name != KUSTOMIZATION)


def load_manifests() -> list[Manifest]:
    return [
        Manifest(path.name, doc)
        for path in manifest_files()
        for doc in yaml.safe_load_all(path.read_text())
        if doc is not None
    ]


def kustomization() -> Doc:
    doc: Doc = yaml.safe_load((KUBERNETES / KUSTOMIZATION).read_text())
    return doc


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m.kind == kind]


def named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    (found,) = [m for m in of_kind(manifests, kind) if m.name == name]
    return found


def workloads(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m.kind in WORKLOAD_KINDS]


def pod_template(workload: Manifest) -> Doc:
    template: Doc = workload.doc["spec"]["template"]
    return template


def pod_spec(workload: Manifest) -> Doc:
    spec: Doc = pod_template(workload)["spec"]
    return spec


def pod_labels(workload: Manifest) -> dict[str, str]:
    return dict(pod_template(workload)["metadata"].get("labels", {}))


def containers(manifests: list[Manifest]) -> Iterator[Container]:
    for workload in workloads(manifests):
        spec = pod_spec(workload)
        for c in spec.get("initContainers", []):
            yield Container(workload, c, init=True)
        for c in spec["containers"]:
            yield Container(workload, c, init=False)


def container(manifests: list[Manifest], workload: str, name: str) -> Container:
    (found,) = [c for c in containers(manifests) if c.workload.name == workload and c.name == name]
    return found


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def selected_workloads(manifests: list[Manifest], selector: Mapping[str, str]) -> list[Manifest]:
    return [w for w in workloads(manifests) if selects(selector, pod_labels(w))]


def container_ports(workload: Manifest) -> dict[str, int]:
    """Name (or the number as text, for unnamed ones) -> port, of the main containers."""
    ports: dict[str, int] = {}
    for c in pod_spec(workload)["containers"]:
        for port in c.get("ports", []):
            number = int(port["containerPort"])
            ports[str(port.get("name", number))] = number
    return ports


def resolve_port(workload: Manifest, port: int | str) -> int | None:
    """The container port a probe, Service or policy names (by name or number), if any."""
    ports = container_ports(workload)
    if isinstance(port, int):
        return port if port in ports.values() else None
    return ports.get(port)


def config_data(manifests: list[Manifest], name: str) -> dict[str, str]:
    return {k: str(v) for k, v in named(manifests, "ConfigMap", name).doc["data"].items()}


def environment(c: Container, manifests: list[Manifest]) -> dict[str, str | None]:
    """The container's variables: ConfigMap values resolved, others (secrets, fields) None."""
    env: dict[str, str | None] = {}
    for source in c.spec.get("envFrom", []):
        env.update(config_data(manifests, source["configMapRef"]["name"]))
    for var in c.spec.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
            continue
        ref = var["valueFrom"].get("configMapKeyRef")
        env[var["name"]] = config_data(manifests, ref["name"])[ref["key"]] if ref else None
    return env


def secret_refs(c: Container) -> dict[str, Doc]:
    """Variable -> secretKeyRef, for the variables the container takes from a Secret."""
    return {
        var["name"]: var["valueFrom"]["secretKeyRef"]
        for var in c.spec.get("env", [])
        if "secretKeyRef" in var.get("valueFrom", {})
    }


def expand(argv: list[str], env: Mapping[str, str | None]) -> list[str]:
    """Kubernetes' $(VAR) expansion of command and args; an unknown variable fails here."""

    def value(match: re.Match[str]) -> str:
        found = env[match.group(1)]
        assert found is not None, f"$({match.group(1)}) has no literal value"
        return found

    return [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", value, arg) for arg in argv]


def mount_path(c: Container, volume: str) -> str:
    (path,) = [m["mountPath"] for m in c.spec.get("volumeMounts", []) if m["name"] == volume]
    return str(path)


def volume(c: Container, name: str) -> Doc:
    (found,) = [v for v in c.pod.get("volumes", []) if v["name"] == name]
    return dict(found)


def dockerfile_workdir() -> str:
    """The runtime stage's WORKDIR: where the image keeps dagster.yaml and workspace.yaml."""
    workdirs = re.findall(r"^WORKDIR\s+(\S+)", (DEPLOY / "Dockerfile").read_text(), re.M)
    return str(workdirs[-1])
