"""The deployment manifests validate offline, and agree with the contract and the image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from contract import load_openapi, operation

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def documents() -> list[dict[str, Any]]:
    return [
        d
        for p in sorted(DEPLOY.glob("*.yaml"))
        if p.name != "kustomization.yaml"
        for d in yaml.safe_load_all(p.read_text())
        if d
    ]


@pytest.mark.parametrize(
    "document", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_validates_offline(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, "1.30.0", strict=True)


def _sidecar() -> dict[str, Any]:
    pod = next(d for d in documents() if d["kind"] == "Pod")
    return next(c for c in pod["spec"]["containers"] if c["name"] == "opencode-server")


def test_probes_and_port_match_the_contract() -> None:
    sidecar = _sidecar()
    port = int(load_openapi()["servers"][0]["url"].rsplit(":", 1)[1])
    assert sidecar["ports"][0]["containerPort"] == port
    assert sidecar["livenessProbe"]["httpGet"] == {
        "path": operation("getLiveness").path,
        "port": port,
    }
    assert sidecar["readinessProbe"]["httpGet"] == {
        "path": operation("getReadiness").path,
        "port": port,
    }
    assert operation("getLiveness").public and operation("getReadiness").public
    # the seed's timings (Phase 1.2, Kubernetes Configuration)
    assert (
        sidecar["livenessProbe"]["initialDelaySeconds"],
        sidecar["livenessProbe"]["periodSeconds"],
        sidecar["livenessProbe"]["timeoutSeconds"],
    ) == (10, 30, 5)
    assert (
        sidecar["readinessProbe"]["initialDelaySeconds"],
        sidecar["readinessProbe"]["periodSeconds"],
        sidecar["readinessProbe"]["timeoutSeconds"],
    ) == (5, 10, 3)


def test_image_exposes_the_same_port_and_runs_as_the_pods_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    port = _sidecar()["ports"][0]["containerPort"]
    assert f"EXPOSE {port}" in dockerfile
    assert "USER 10001:10001" in dockerfile
    assert "/healthz" in dockerfile


def test_the_secret_comes_from_a_secret_and_resources_are_set() -> None:
    sidecar = _sidecar()
    secret = next(e for e in sidecar["env"] if e["name"] == "OPENCODE_SHARED_SECRET")
    assert "secretKeyRef" in secret["valueFrom"]
    assert {"requests", "limits"} <= set(sidecar["resources"])


def test_the_image_installs_the_opencode_version_the_runtime_is_verified_with() -> None:
    from opencode_sidecar.install import OPENCODE_VERSION

    dockerfile = (Path(__file__).parents[2] / "Dockerfile").read_text()
    assert f"ARG OPENCODE_VERSION={OPENCODE_VERSION}\n" in dockerfile


def test_the_sidecar_is_confined_with_no_added_privilege() -> None:
    """Landlock needs no privilege: the container drops every capability, cannot escalate,
    runs read-only with writable mounts for the workspace, OpenCode's state and /tmp only,
    and refuses to serve unconfined."""
    sidecar = _sidecar()
    context = sidecar["securityContext"]
    assert context["privileged"] is False
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert "add" not in context["capabilities"]
    env = {e["name"]: e.get("value") for e in sidecar["env"]}
    assert env["SANDBOX"] == "required"
    mounts = {m["mountPath"] for m in sidecar["volumeMounts"]}
    assert {env["WORKSPACE_DIR"], "/tmp"} <= mounts
    assert any(env["OPENCODE_STATE_DIR"].startswith(m + "/") for m in mounts)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "AS serve" in dockerfile and "AS toolkit" in dockerfile


def test_the_disruption_budget_covers_the_pod_and_the_grace_covers_the_drain() -> None:
    """deploy/README.md "Disruptions and rollouts": the PDB selects the project's pod and
    lets no healthy one be evicted; the kubelet waits longer than the sidecar's drain."""
    pod = next(d for d in documents() if d["kind"] == "Pod")
    budget = next(d for d in documents() if d["kind"] == "PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert budget["spec"]["maxUnavailable"] == 0
    assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert pod["spec"]["restartPolicy"] == "Always"
    env = {e["name"]: e.get("value") for e in _sidecar()["env"]}
    grace = float(env["SHUTDOWN_GRACE"])
    # the drain: stop the runtimes, commit the logs, the server's wait for streams
    # (SHUTDOWN_GRACE + 2, reference_server/serve.py), close the store: each at most grace
    assert pod["spec"]["terminationGracePeriodSeconds"] > 4 * grace + 2
