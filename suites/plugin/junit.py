"""JUnit XML from the JSON clause report: one testcase per (test, clause).

pytest's own ``--junitxml`` has one testcase per test, so a test that checks several
clauses (the fuzz suite's one test per operation checks six) is one case tagged with
them all, and CI cannot tell which check failed. Here each (test, clause) pair is a
testcase named after the test and the clause, with the clause, its profile and level as
properties, and a failure (expected, actual, reproduce line), an error or a skip with its
reason. One ``testsuite`` per profile, whose ``outcome`` property says pass, fail, error,
not verified (every clause skipped), not claimed or not run. Written with the standard
library's ElementTree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from suites.plugin.report import SECRET_NOTE


def _case(clause: dict[str, Any], test: dict[str, Any], several: bool) -> ET.Element:
    module, _, name = test["nodeid"].partition("::")
    case = ET.Element(
        "testcase",
        classname=module.removesuffix(".py").replace("/", "."),
        name=f"{name} {clause['id']}" if several else name,
        time=f"{test['duration']:.3f}",
    )
    props = ET.SubElement(case, "properties")
    for key in ("id", "profile", "level"):
        ET.SubElement(props, "property", name="clause" if key == "id" else key, value=clause[key])
    outcome, message = test["outcome"], test.get("message") or ""
    if outcome == "fail":
        body = [message]
        if test.get("expected") is not None:
            body += [f"Expected: {test['expected']}", f"Actual:   {test['actual']}"]
        if test.get("curl"):
            body += [f"Reproduce: {test['curl']}", SECRET_NOTE]
        failure = ET.SubElement(case, "failure", message=message, type="ClauseViolation")
        failure.text = "\n".join(body)
    elif outcome == "error":
        ET.SubElement(case, "error", message=message, type="error").text = message
    elif outcome == "skip":
        ET.SubElement(case, "skipped", message=message).text = message
    return case


def to_junit(report: dict[str, Any]) -> str:
    clauses_per_test: dict[str, int] = {}
    for clause in report["clauses"]:
        for test in clause["tests"]:
            clauses_per_test[test["nodeid"]] = clauses_per_test.get(test["nodeid"], 0) + 1
    root = ET.Element("testsuites", name="opencode-sidecar")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for profile in report.get("profiles", []) or [{"name": "all", "outcome": report["verdict"]}]:
        suite = ET.SubElement(root, "testsuite", name=f"opencode-sidecar {profile['name']}")
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="outcome", value=profile["outcome"])
        counts = dict.fromkeys(totals, 0)
        for clause in report["clauses"]:
            if clause.get("profile", "all") != profile["name"]:
                continue
            for test in clause["tests"]:
                suite.append(_case(clause, test, clauses_per_test[test["nodeid"]] > 1))
                counts["tests"] += 1
                key = {"fail": "failures", "error": "errors", "skip": "skipped"}.get(
                    test["outcome"]
                )
                if key:
                    counts[key] += 1
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_junit(report))
