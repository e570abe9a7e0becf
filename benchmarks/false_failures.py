"""False failures: ``verify`` run K times against honest targets, per clause how often it
did not PASS. An honest target is the reference (``opencode-sidecar verify`` with no
target: the embedded reference on the fake runtime, every suite, the README's first
command) and every valid-variation faulty sidecar (a ``Fault`` whose catches are all
empty: CRLF line ends, comment heartbeats, extra fields, odd chunk boundaries), each judged
by the suites it names with the settings its self-test declares. The target is 0 in every
cell. Long (the full run is K x (about 50 s + the faults' suites)): not part of CI.

    .venv/bin/python benchmarks/false_failures.py [--runs K] [--busy] [--only NAME ...]
        [--keep DIR]

``--busy`` starts one busy process per core beside the runs (a loaded machine). A cell
counts the runs where the clause failed or errored, and the runs where it skipped when it
passed in another run of the same target (a skip that comes and goes is a flake too).
``--keep DIR`` keeps every run's JSON report there (each test's message says why it did
not pass); without it they go with a temporary directory.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from fakes.faults import FAULTS
from opencode_sidecar.local_target import target_fields
from opencode_sidecar.verify import Verification, VerifyOptions, run_verify
from suites.clientkit.harness import fake_model_server, python_module
from suites.plugin.target import RunOptions, TargetOptions
from tests.suites.test_faulty_selftest import served_pair, settings_for

REFERENCE = "reference"
BUSY_LOOP = "while True: pass"


def valid_variations() -> dict[str, tuple[str, ...]]:
    """Every fault that must pass the suites it names, with those suites."""
    return {n: tuple(f.catches) for n, f in FAULTS.items() if f.is_valid_variation}


def outcomes_of(report: Path) -> dict[str, str]:
    clauses = json.loads(report.read_text())["clauses"]
    return {c["id"]: c["outcome"] for c in clauses}


def run_reference(work: Path) -> dict[str, str]:
    """The README's first command, with a JSON report."""
    report = work / "reference.json"
    subprocess.run(
        python_module("opencode_sidecar", "verify", "--report", str(report)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=900,
        check=False,
    )
    return outcomes_of(report) if report.exists() else {"(verify did not report)": "error"}


def run_fault(name: str, suite: str, model_url: str, work: Path) -> dict[str, str]:
    """``verify --suite SUITE`` against faulty sidecar ``name``, served and declared exactly
    as in its self-test pair (``served_pair``: the PID for soak, a project, a supervisor)."""
    pair_dir = work / f"{name}-{suite}"
    pair_dir.mkdir()
    report = work / f"{name}-{suite}.json"
    with served_pair(name, suite, pair_dir) as (server, told):
        target = TargetOptions(
            url=server.url,
            model_endpoint=model_url,
            workspace=pair_dir / "workspace",
            **{**target_fields(settings_for(suite)), **told},
        )
        asked = Verification(target, RunOptions(), VerifyOptions(suites=(suite,), report=report))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run_verify(asked, Console(file=io.StringIO(), width=160))
    return outcomes_of(report) if report.exists() else {f"({suite} did not report)": "error"}


@contextmanager
def busy(enabled: bool) -> Iterator[None]:
    """One busy process per core beside the runs (stopped by their pids)."""
    procs = (
        [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(os.cpu_count() or 1)]
        if enabled
        else []
    )
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def not_passed(runs: list[dict[str, str]]) -> dict[str, int]:
    """Per clause, the runs where it did not pass (see the module docstring)."""
    counts: dict[str, int] = defaultdict(int)
    seen = {clause for run in runs for clause in run}
    for clause in sorted(seen):
        ever_passed = any(run.get(clause) == "pass" for run in runs)
        for run in runs:
            outcome = run.get(clause, "missing")
            if outcome in ("fail", "error", "missing") or (outcome == "skip" and ever_passed):
                counts[clause] += 1
        counts.setdefault(clause, 0)
    return dict(counts)


def table(results: dict[str, list[dict[str, str]]], runs: int) -> str:
    per_target = {target: not_passed(found) for target, found in results.items()}
    clauses = sorted({c for counts in per_target.values() for c in counts})
    flaky = [c for c in clauses if any(counts.get(c, 0) for counts in per_target.values())]
    targets = list(per_target)
    width = max([len(c) for c in clauses] + [6])
    lines = [f"{'clause':{width}}  " + "  ".join(targets)]
    for clause in flaky:
        cells = []
        for target in targets:
            counts = per_target[target]
            cell = f"{counts[clause]}/{runs}" if clause in counts else "-"
            cells.append(f"{cell:>{len(target)}}")
        lines.append(f"{clause:{width}}  " + "  ".join(cells))
    total = sum(len(c) for c in per_target.values())
    lines.append(
        f"{len(flaky)} of {len(clauses)} clauses did not always pass "
        f"({total} clause x target cells, {runs} runs each)"
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="verify runs per target (10)")
    parser.add_argument("--busy", action="store_true", help="one busy process per core beside")
    parser.add_argument(
        "--only", nargs="*", help=f"targets to run: {REFERENCE} and/or fault names (default: all)"
    )
    parser.add_argument("--keep", type=Path, help="keep every run's JSON report in this directory")
    args = parser.parse_args(argv)
    targets = [REFERENCE, *valid_variations()]
    if args.only:
        targets = [t for t in targets if t in args.only]
    results: dict[str, list[dict[str, str]]] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ocs-ff-") as tmp, busy(args.busy):
        work = Path(tmp) if args.keep is None else args.keep
        work.mkdir(parents=True, exist_ok=True)
        with fake_model_server() as model:
            for target in targets:
                for k in range(args.runs):
                    run_dir = work / f"{target}-{k}"
                    run_dir.mkdir(exist_ok=True)
                    if target == REFERENCE:
                        found = run_reference(run_dir)
                    else:
                        found = {}
                        for suite in valid_variations()[target]:
                            found.update(run_fault(target, suite, model.url, run_dir))
                    bad = sorted(c for c, o in found.items() if o in ("fail", "error"))
                    skipped = sorted(c for c, o in found.items() if o == "skip")
                    print(
                        f"{target} run {k + 1}/{args.runs}: not passed {bad}, skipped {skipped}",
                        flush=True,
                    )
                    results.setdefault(target, []).append(found)
    print(table(results, args.runs))
    print(f"{time.monotonic() - started:.0f} s; busy processes: {args.busy}")
    worst: Any = max((max(not_passed(r).values(), default=0) for r in results.values()), default=0)
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
