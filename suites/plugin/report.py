"""Rendering the JSON clause report as Markdown or HTML (verdict, counts, clauses, failures)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

ICONS = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP", "error": "ERROR"}


def load_report(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text())
    return report


def _failures(report: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (clause, test)
        for clause in report["clauses"]
        for test in clause["tests"]
        if test["outcome"] in ("fail", "error")
    ]


def to_markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    lines = [
        "# opencode-sidecar verification",
        "",
        f"**Verdict: {report['verdict'].upper()}** against `{report['target'].get('url')}`"
        f"{' (strict)' if report['strict'] else ''}, in {report['duration_s']:.1f} s.",
        "",
        f"{s['pass']} passed, {s['fail']} failed, {s['skip']} skipped, {s['error']} errors.",
        "",
        "| clause | level | title | outcome |",
        "|---|---|---|---|",
    ]
    for c in report["clauses"]:
        lines.append(f"| {c['id']} | {c['level']} | {c['title']} | {ICONS[c['outcome']]} |")
    failures = _failures(report)
    if failures:
        lines += ["", "## Failures and errors", ""]
        for clause, test in failures:
            lines += [
                f"### {clause['id']} ({clause['level']}): {clause['title']}",
                "",
                f"Requirement: {clause['requirement']}",
                "",
                f"- test: `{test['nodeid']}` ({test['outcome']})",
                f"- {test['message']}",
            ]
            if test.get("expected") is not None:
                lines += [f"- Expected: `{test['expected']}`", f"- Actual: `{test['actual']}`"]
            if test.get("curl"):
                lines += ["", "```sh", test["curl"], "```"]
            lines.append("")
    return "\n".join(lines) + "\n"


def to_html(report: dict[str, Any]) -> str:
    e = html.escape
    s = report["summary"]
    rows = "".join(
        f"<tr class='{c['outcome']}'><td>{e(c['id'])}</td><td>{c['level']}</td>"
        f"<td>{e(c['title'])}</td><td>{ICONS[c['outcome']]}</td></tr>"
        for c in report["clauses"]
    )
    details = "".join(
        f"<section><h3>{e(c['id'])} ({c['level']}): {e(c['title'])}</h3>"
        f"<p>{e(c['requirement'])}</p><p><code>{e(t['nodeid'])}</code>: {e(t['message'])}</p>"
        + (
            f"<p>Expected: <code>{e(str(t['expected']))}</code><br>"
            f"Actual: <code>{e(str(t['actual']))}</code></p>"
            if t.get("expected") is not None
            else ""
        )
        + (f"<pre>{e(t['curl'])}</pre>" if t.get("curl") else "")
        + "</section>"
        for c, t in _failures(report)
    )
    strict = " (strict)" if report["strict"] else ""
    url = e(str(report["target"].get("url")))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>opencode-sidecar verification</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: .2rem .5rem; }}
tr.pass td:last-child {{ color: #17653a; }}
tr.fail td:last-child {{ color: #b00020; font-weight: bold; }}
tr.error td:last-child {{ color: #a15c00; }} tr.skip td:last-child {{ color: #666; }}
pre {{ background: #f4f4f4; padding: .5rem; white-space: pre-wrap; }}
</style></head><body>
<h1>Verdict: {e(report["verdict"].upper())}</h1>
<p>Target <code>{url}</code>{strict},
{report["duration_s"]:.1f} s: {s["pass"]} passed, {s["fail"]} failed, {s["skip"]} skipped,
{s["error"]} errors.</p>
<table><tr><th>clause</th><th>level</th><th>title</th><th>outcome</th></tr>{rows}</table>
<h2>Failures and errors</h2>{details or "<p>None.</p>"}
</body></html>
"""


def write_report(report: dict[str, Any], path: Path) -> None:
    """Write as Markdown (.md), HTML (.html/.htm) or JSON (anything else)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".md":
        path.write_text(to_markdown(report))
    elif path.suffix in (".html", ".htm"):
        path.write_text(to_html(report))
    else:
        path.write_text(json.dumps(report, indent=2) + "\n")
