"""TROUBLESHOOTING.md names real things: the metrics the sidecar exposes, the model failure
codes of the contract, the settings of the reference, and a section for every alert."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from contract import metric_families, model_failure_codes

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "TROUBLESHOOTING.md").read_text()
SUFFIXES = {"counter": ("_total",), "histogram": ("_count", "_sum", "_bucket"), "gauge": ("",)}


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the ``##`` headings."""
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_metric_named_is_exposed() -> None:
    exposed = {f.name + s for f in metric_families() for s in SUFFIXES[f.type]}
    named = set(re.findall(r"\bopencode_[a-z_]+", GUIDE))
    assert named and named <= exposed, sorted(named - exposed)


def test_every_model_failure_code_has_its_fix() -> None:
    for code in sorted(model_failure_codes()):
        assert f"| `{code}` |" in GUIDE, code


def test_every_setting_named_is_one_of_the_reference() -> None:
    config = (ROOT / "reference_server" / "config.py").read_text()
    named = set(re.findall(r"`([A-Z][A-Z_]{5,})`", GUIDE)) - {"OTEL_EXPORTER_OTLP_ENDPOINT"}
    unknown = {n for n in named if f'"{n}"' not in config}
    assert named and not unknown, sorted(unknown)


def test_every_alert_links_to_a_section() -> None:
    rules = yaml.safe_load(
        (ROOT / "deploy" / "monitoring" / "opencode-sidecar.rules.yaml").read_text()
    )
    sections = anchors(GUIDE)
    for group in rules["groups"]:
        for rule in group["rules"]:
            page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
            assert page == "TROUBLESHOOTING.md" and anchor in sections, rule["alert"]
