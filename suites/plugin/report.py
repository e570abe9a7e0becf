"""Rendering the JSON clause report as Markdown or HTML: verdict, per-profile verdicts,
every clause (a skip or an error with its reason), failures with expected, actual and the
``curl`` line that reproduces them."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

ICONS = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP", "error": "ERROR"}
SECRET_NOTE = (
    "Reproduce lines read the shared secret from `$OPENCODE_SHARED_SECRET`: "
    "`export OPENCODE_SHARED_SECRET=...` first."
)


def load_report(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text())
    return report


def failures(report: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(clause, test) for every failed or errored test."""
    return [
        (clause, test)
        for clause in report["clauses"]
        for test in clause["tests"]
        if test["outcome"] in ("fail", "error")
    ]


def reason(clause: dict[str, Any]) -> str:
    """Why a clause skipped or errored (its tests' messages, once each); ``""`` otherwise."""
    if clause["outcome"] not in ("skip", "error"):
        return ""
    messages = [t["message"] for t in clause["tests"] if t["outcome"] == clause["outcome"]]
    if not messages:
        return "selected but never reported: the run was cut short"
    return "; ".join(dict.fromkeys(m.strip() for m in messages if m.strip()))


def profile_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = report.get("profiles", [])
    return rows


def profile_counts(row: dict[str, Any]) -> str:
    if row["outcome"] in ("not claimed", "not run"):
        return ""
    parts = [f"{row[o]} {o}" for o in ("pass", "fail", "skip", "error") if row.get(o)]
    return ", ".join(parts)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


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
    ]
    if profile_rows(report):
        lines += ["| profile | verdict | clauses | covers |", "|---|---|---|---|"]
        for p in profile_rows(report):
            lines.append(
                f"| {p['name']} | {p['outcome'].upper()} | {profile_counts(p)} | {p['title']} |"
            )
        lines.append("")
    lines += [
        "| clause | profile | level | title | outcome | reason |",
        "|---|---|---|---|---|---|",
    ]
    for c in report["clauses"]:
        lines.append(
            f"| {c['id']} | {c.get('profile', '')} | {c['level']} | {_md_cell(c['title'])} "
            f"| {ICONS[c['outcome']]} | {_md_cell(reason(c))} |"
        )
    found = failures(report)
    if found:
        lines += ["", "## Failures and errors", ""]
        if any(t.get("curl") for _, t in found):
            lines += [SECRET_NOTE, ""]
        for clause, test in found:
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


def _html_profiles(report: dict[str, Any]) -> str:
    e = html.escape
    rows = "".join(
        f"<tr class='{e(p['outcome'].replace(' ', '-'))}'><td>{e(p['name'])}</td>"
        f"<td class='o'>{e(p['outcome'].upper())}</td><td>{e(profile_counts(p))}</td>"
        f"<td>{e(p['title'])}</td></tr>"
        for p in profile_rows(report)
    )
    if not rows:
        return ""
    return (
        "<h2>Profiles</h2><table><tr><th>profile</th><th>verdict</th><th>clauses</th>"
        f"<th>covers</th></tr>{rows}</table>"
    )


def _html_failure(c: dict[str, Any], t: dict[str, Any]) -> str:
    e = html.escape
    parts = [
        f"<section><h3>{e(c['id'])} ({c['level']}): {e(c['title'])}</h3>",
        f"<p>{e(c['requirement'])}</p><p><code>{e(t['nodeid'])}</code> ({t['outcome']}): "
        f"{e(t['message'])}</p>",
    ]
    if t.get("expected") is not None:
        parts.append(
            "<dl><dt>Expected</dt>"
            f"<dd><code>{e(str(t['expected']))}</code></dd><dt>Actual</dt>"
            f"<dd><code>{e(str(t['actual']))}</code></dd></dl>"
        )
    if t.get("curl"):
        parts.append(f"<p>Reproduce:</p><pre>{e(t['curl'])}</pre>")
    return "".join(parts) + "</section>"


def _code_spans(text: str) -> str:
    """A paragraph with Markdown's `code` spans as <code>."""
    parts = text.split("`")
    return (
        "<p>" + "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts)) + "</p>"
    )


def to_html(report: dict[str, Any]) -> str:
    e = html.escape
    s = report["summary"]
    rows = "".join(
        f"<tr class='{c['outcome']}'><td class='id'>{e(c['id'])}</td>"
        f"<td>{e(c.get('profile', ''))}</td>"
        f"<td>{c['level']}</td><td>{e(c['title'])}</td><td class='o'>{ICONS[c['outcome']]}</td>"
        f"<td class='why'>{e(reason(c))}</td></tr>"
        for c in report["clauses"]
    )
    found = failures(report)
    details = "".join(_html_failure(c, t) for c, t in found)
    note = _code_spans(e(SECRET_NOTE)) if any(t.get("curl") for _, t in found) else ""
    strict = " (strict)" if report["strict"] else ""
    url = e(str(report["target"].get("url")))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>opencode-sidecar verification</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; max-width: 80rem; }}
table {{ border-collapse: collapse; margin-bottom: 1rem; }}
td, th {{ border: 1px solid #ccc; padding: .2rem .5rem; text-align: left; vertical-align: top; }}
tr.pass td.o {{ color: #17653a; }} tr.fail td.o {{ color: #b00020; font-weight: bold; }}
tr.error td.o {{ color: #a15c00; font-weight: bold; }} tr.skip td.o {{ color: #666; }}
tr.not-claimed td, tr.not-run td {{ color: #777; }}
tr.not-verified td {{ color: #a15c00; font-weight: bold; }}
td.why {{ font-size: .85rem; color: #444; max-width: 32rem; }}
td.id {{ white-space: nowrap; font-family: ui-monospace, monospace; font-size: .9rem; }}
section {{ border-left: 4px solid #b00020; padding-left: 1rem; margin-bottom: 1.5rem; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }}
dt {{ font-weight: bold; }} dd {{ margin: 0; }} code {{ white-space: pre-wrap; }}
pre {{ background: #f4f4f4; padding: .5rem; white-space: pre-wrap; word-break: break-all; }}
</style></head><body>
<h1>Verdict: {e(report["verdict"].upper())}</h1>
<p>Target <code>{url}</code>{strict},
{report["duration_s"]:.1f} s: {s["pass"]} passed, {s["fail"]} failed, {s["skip"]} skipped,
{s["error"]} errors.</p>
{_html_profiles(report)}
<h2>Clauses</h2>
<table><tr><th>clause</th><th>profile</th><th>level</th><th>title</th><th>outcome</th>
<th>reason</th></tr>{rows}</table>
<h2>Failures and errors</h2>{note}{details or "<p>None.</p>"}
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
