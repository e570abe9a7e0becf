"""The distributed-Locust manifests validate offline against the Kubernetes schemas."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parents[2] / "loadtests" / "k8s"
VERSION = "1.30.0"


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=lambda p: p.name)
def test_manifest_validates(path: Path) -> None:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert documents
    for document in documents:
        kubernetes_validate.validate(document, VERSION, strict=True)


def test_workers_find_the_master_and_read_the_settings() -> None:
    master = list(yaml.safe_load_all((K8S / "locust-master.yaml").read_text()))
    worker = yaml.safe_load((K8S / "locust-workers.yaml").read_text())
    service = next(d for d in master if d["kind"] == "Service")
    command = worker["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--master-host") + 1] == service["metadata"]["name"]
    assert {p["port"] for p in service["spec"]["ports"]} >= {5557}
    settings = yaml.safe_load((K8S / "locust-settings.yaml").read_text())["data"]
    assert {"SIDECAR_URL", "MODEL_ENDPOINT", "LOAD_PROFILE", "LOAD_USERS", "LOAD_DURATION"} <= set(
        settings
    )
