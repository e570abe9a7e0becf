"""The layering of ARCHITECTURE.md is checked, not only written: `lint-imports` keeps the
tree as it is, and breaks on an arrow that points the wrong way."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("contract", "reference_server", "fakes", "suites", "loadtests", "opencode_sidecar")
LINT_IMPORTS = shutil.which("lint-imports", path=str(Path(sys.executable).parent))


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    assert LINT_IMPORTS is not None, "import-linter is not installed (extras: test)"
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the project's packages and layering contracts."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("*.pyc", "__pycache__", "*.yaml", "*.json", "*.md"),
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_layering_contract(tree: Path) -> None:
    done = lint_imports(tree)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
    assert len(verdicts(done.stdout)["KEPT"]) >= 5


@pytest.mark.parametrize(
    ("module", "imports", "contract"),
    [
        ("reference_server/_upward.py", "opencode_sidecar.cli", "Layers"),
        ("suites/_imports_a_server.py", "reference_server.app", "over HTTP only"),
        ("suites/clientkit/_judges.py", "suites.plugin.outcomes", "client kit below the checks"),
        # a suite added later is covered without being listed (``suites.*``)
        ("loadtests/_uses_a_suite.py", "suites.newsuite.test_x", "Loadtests use the client kit"),
        ("fakes/_circle_a.py", "fakes._circle_b", "No import circle"),
    ],
)
def test_an_arrow_against_the_architecture_breaks_lint(
    tree: Path, module: str, imports: str, contract: str
) -> None:
    (tree / module).write_text(f"import {imports}  # deliberate violation\n")
    if imports == "suites.newsuite.test_x":
        (tree / "suites/newsuite").mkdir()
        (tree / "suites/newsuite/__init__.py").write_text("")
        (tree / "suites/newsuite/test_x.py").write_text("")
    if imports == "fakes._circle_b":
        (tree / "fakes/_circle_b.py").write_text("import fakes._circle_a\n")
    done = lint_imports(tree)
    assert done.returncode == 1, done.stdout[-3000:]
    assert any(contract in name for name in verdicts(done.stdout)["BROKEN"]), done.stdout[-3000:]


def verdicts(output: str) -> dict[str, list[str]]:
    """Contract names by verdict, from lint-imports' summary (names wrap over lines)."""
    summary = " ".join(output.split("Contracts\n---------", 1)[-1].split())
    found: dict[str, list[str]] = {"KEPT": [], "BROKEN": []}
    for name, verdict in re.findall(r"(?:^|(?<=KEPT )|(?<=BROKEN ))(.+?) (KEPT|BROKEN)", summary):
        found[verdict].append(name)
    return found


def test_architecture_md_names_every_suite_in_the_order_verify_runs_them() -> None:
    """The page says which suites exist and the default order: ``SUITES``, all of the suite
    packages under ``suites/`` (the rest is the machinery: client kit, checks, plugin)."""
    import pkgutil

    import suites
    from suites import SUITES

    machinery = {"clientkit", "checks", "plugin"}
    packages = {m.name for m in pkgutil.iter_modules(suites.__path__) if m.ispkg}
    assert packages - machinery == set(SUITES)
    page = " ".join((ROOT / "ARCHITECTURE.md").read_text().split())
    assert f"(default, in order: {', '.join(SUITES)})" in page
    for suite in SUITES:
        assert f"`{suite}/`" in page, f"ARCHITECTURE.md does not describe suites/{suite}/"
