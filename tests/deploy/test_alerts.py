"""The alert rules of deploy/monitoring/: Prometheus's own ``promtool`` checks and unit-tests
them; the PrometheusRule manifest is the same groups; every metric an alert reads is one
the sidecar exposes (the contract's families) or cAdvisor's or kube-state-metrics'."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from contract import load_openapi, metric_families

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
RULES = MONITORING / "opencode-sidecar.rules.yaml"
RULE_TESTS = MONITORING / "opencode-sidecar.rules.test.yaml"
MANIFEST = MONITORING / "prometheusrule.yaml"
KUBERNETES_METRICS = frozenset(
    {
        "container_memory_working_set_bytes",  # cAdvisor (kubelet)
        "kube_pod_container_status_ready",  # kube-state-metrics
        "kube_pod_container_resource_limits",
    }
)
SUFFIXES = {"counter": ("_total",), "histogram": ("_count", "_sum", "_bucket"), "gauge": ("",)}
PROMQL_WORDS = frozenset(
    {"sum", "max", "by", "rate", "increase", "and", "or", "unless", "on", "ignoring"}
)


def promtool() -> str:
    """The promtool binary (Debian's ``prometheus`` package); CI must have it (.ci/run)."""
    found = shutil.which("promtool")
    if found is None:
        message = "promtool not found: apt-get install -y prometheus (.ci/run does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def alerts() -> list[dict[str, object]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_checks_the_rules() -> None:
    done = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_pass_and_cover_every_alert() -> None:
    done = subprocess.run(
        [promtool(), "test", "rules", RULE_TESTS.name],
        cwd=MONITORING,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    assert tested == {str(rule["alert"]) for rule in alerts()}


def test_the_prometheusrule_is_the_rules_file() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert (manifest["apiVersion"], manifest["kind"]) == (
        "monitoring.coreos.com/v1",
        "PrometheusRule",
    )
    assert manifest["spec"] == yaml.safe_load(RULES.read_text())
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "prometheus_rule.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_alerts_read_only_metrics_that_exist() -> None:
    exposed = {
        family.name + suffix
        for family in metric_families()
        for suffix in SUFFIXES.get(family.type, ("",))
    }
    statuses = set(load_openapi()["components"]["schemas"]["SessionState"]["enum"])
    for rule in alerts():
        expr = str(rule["expr"])
        without_labels = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\([^()]*?\)\s*(?=\()", " ", expr)
        names = set(re.findall(r"\b[a-z_][a-z0-9_]*\b", without_labels)) - PROMQL_WORDS
        names -= {"namespace", "pod"}
        unknown = names - exposed - KUBERNETES_METRICS
        assert not unknown, f"{rule['alert']}: {sorted(unknown)}"
        for status in re.findall(r'status="([^"]+)"', expr):
            assert status in statuses, status
