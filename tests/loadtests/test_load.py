"""Load runs are real (Locust subprocesses against a spawned reference), short and bounded."""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadtests.profiles import load_profiles
from loadtests.sampler import Sample
from loadtests.sizing import memory_slope, recommend, worst_session_footprint
from suites.clientkit.harness import python_module
from suites.clientkit.stats import percentile


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        python_module("opencode_sidecar", "load", *args),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def assert_report_written(out: Path) -> dict[str, Any]:
    """The run's report, YAML and plots are there and say something; returns the report."""
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    assert report["headline"]["sessions_per_s"] > 0
    assert report["headline"]["failures"] == 0
    assert report["headline"]["first_event_p95_ms"] is not None
    assert len(report["samples"]) > 5
    resources = yaml.safe_load((out / "resources.yaml").read_text())["resources"]
    assert resources["requests"]["memory"].endswith("Mi")
    assert int(resources["limits"]["memory"][:-2]) >= int(resources["requests"]["memory"][:-2])
    assert (out / "plots.png").read_bytes()[:4] == b"\x89PNG"
    assert "data:image/png;base64," in (out / "report.html").read_text()
    return report


def test_a_short_local_run_writes_report_yaml_and_plots_and_holds_its_limits(
    tmp_path: Path,
) -> None:
    """Locust in one process (``--workers 0``), the pod's limits checked. 8 s: in a 5 s
    first run on a loaded machine the retained sessions' memory had not shown yet, and the
    limit recommended from it was exceeded in the check (94 MiB observed, 130 MiB peak)."""
    done = run(
        *("--spawn", "--profile", "steady", "--duration", "8", "--users", "4"),
        *("--workers", "0", "--check-limits", "--out", str(tmp_path)),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    check = assert_report_written(tmp_path)["limit_check"]
    assert check["held"] is True
    assert check["peak_rss_mib"] <= check["memory_limit_mib"]


def test_a_short_distributed_run_writes_report_yaml_and_plots(tmp_path: Path) -> None:
    """Locust as a master and two worker processes."""
    done = run(
        # 8 s: workers report their stats every 3 s; under load a shorter run can end
        # before the master has any
        *("--spawn", "--profile", "steady", "--duration", "8", "--users", "4"),
        *("--workers", "2", "--out", str(tmp_path)),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert_report_written(tmp_path)


def test_a_short_websocket_run_reads_every_session(tmp_path: Path) -> None:
    done = run(
        # 10 s: read_edit_bash confines each of its tools in a child of its own; on a loaded
        # machine a 6 s run ended before either user's session did
        *("--spawn", "--profile", "websocket_steady", "--duration", "10", "--users", "2"),
        *("--out", str(tmp_path)),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["headline"]["failures"] == 0
    assert report["headline"]["complete_p95_ms"] is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--spawn", "--users", "5000"], "--users must be"),
        (["--spawn", "--duration", "99999"], "--duration must be"),
        (["--target", "localhost:3003"], "not a URL"),
        ([], "either --target URL"),
    ],
)
def test_bad_input_is_one_line_naming_the_fix(args: list[str], message: str) -> None:
    done = run(*args)
    assert done.returncode != 0
    assert message in done.stderr
    assert done.stderr.strip().count("\n") == 0


def test_every_profile_has_stages_ending_the_run() -> None:
    for profile in load_profiles().values():
        assert profile.stages[-1].until == 1.0
        assert profile.users_at(0.0, 60, 10) is not None
        assert profile.users_at(60.0, 60, 10) is None


def test_sizing_math() -> None:
    samples = [
        Sample(
            t=i,
            cpu_cores=0.1 * (i % 5),
            rss_mib=100 + 20 * (i % 5),
            processes=1,
            active_sessions=float(i % 5),
        )
        for i in range(50)
    ]
    assert percentile([1, 2, 3, 4, 5], 0.5) == 3
    assert memory_slope(samples) == pytest.approx(20.0)
    rec = recommend(samples, max_sessions=10)
    assert rec.memory_per_session_mib == pytest.approx(20.0)
    # peak 180 MiB at 4 sessions, +6 sessions x 20 MiB = 300, x 1.15
    assert rec.memory_limit_mi == 345
    assert rec.cpu_request_m == pytest.approx(round(400 * 1.15), abs=1)


def test_the_memory_limit_covers_every_session_at_its_worst_seen_step() -> None:
    """Mostly 5 MiB a session, once 20 MiB (a tool child starting): the slope stays near
    5 MiB, but the limit covers MAX_CONCURRENT_SESSIONS sessions each at 20 MiB (a check run
    of this kind peaked at 95.8 MiB against a slope-sized 89 MiB limit)."""
    samples = [
        Sample(t=i, cpu_cores=0.1, rss_mib=40 + 5 * (i % 4), processes=1, active_sessions=i % 4)
        for i in range(40)
    ]
    samples[9] = replace(samples[9], rss_mib=40 + 1 * 20)  # one session at its heaviest
    assert worst_session_footprint(samples) == (40, 20)
    rec = recommend(samples, max_sessions=5)
    assert rec.memory_per_session_mib is not None and rec.memory_per_session_mib < 6
    assert rec.memory_limit_mi == math.ceil((40 + 5 * 20) * 1.15)
    assert rec.observed["rss_per_session_worst_mib"] == 20
    idle_only = [
        replace(samples[0], active_sessions=0.0),
        replace(samples[1], active_sessions=None),
    ]
    assert worst_session_footprint(idle_only) is None
    assert "rss_per_session_worst_mib" not in recommend(idle_only, max_sessions=5).observed


def test_profiles_default_to_sse_and_may_read_over_the_websocket(tmp_path: Path) -> None:
    profiles = load_profiles()
    assert not profiles["steady"].websocket and profiles["websocket_steady"].websocket
    bad = tmp_path / "profiles.yaml"
    bad.write_text(
        "x: {description: d, user: SessionStreamUser, scenario: quick, websocket: 'yes',"
        " stages: [{until: 1.0, users: 1.0}]}\n"
    )
    with pytest.raises(ValueError, match=r"x\.websocket must be true or false"):
        load_profiles(bad)


def _churn_samples(kib_per_session: float, minutes: float = 10.0) -> list[Sample]:
    """10 sessions/s; RSS grows by ``kib_per_session`` per finished session, with noise."""
    samples = []
    for i in range(int(minutes * 120)):
        t = i * 0.5
        finished = 10.0 * t
        noise = ((i * 7919) % 13 - 6) * 0.3
        samples.append(
            Sample(
                t=t,
                cpu_cores=0.3,
                rss_mib=60 + finished * kib_per_session / 1024 + noise,
                processes=1,
                active_sessions=5.0,
                finished_sessions=finished,
            )
        )
    return samples


def test_growth_per_completed_session_is_measured_and_refuses_an_unbounded_limit() -> None:
    rec = recommend(_churn_samples(24.0), max_sessions=5)
    growth = rec.growth
    assert growth is not None and growth.grows
    assert growth.kib_per_session == pytest.approx(24.0, rel=0.05)
    assert growth.mib_per_hour == pytest.approx(24.0 * 36000 / 1024, rel=0.05)
    assert growth.rss_at.keys() == {"1 min", "5 min", "10 min"}
    assert rec.memory_limit_mi is None
    assert rec.refused is not None and "grows without bound" in rec.refused
    assert "24." in rec.refused and "KiB per completed session" in rec.refused
    assert "memory:" not in rec.resources_yaml(5).split("limits:")[1]


def test_flat_memory_folds_nothing_and_slow_growth_is_folded_over_the_horizon() -> None:
    flat = recommend(_churn_samples(0.0), max_sessions=5)
    assert flat.growth is not None and not flat.growth.grows
    assert flat.growth_folded_mib == 0 and flat.refused is None
    slow = recommend(_churn_samples(0.5), max_sessions=5, horizon_hours=1.0)
    assert slow.growth is not None and slow.growth.significant and not slow.growth.grows
    assert slow.refused is None and slow.memory_limit_mi is not None
    assert slow.growth_folded_mib == pytest.approx(0.5 * 36000 / 1024, rel=0.1)
    peak = max(s.rss_mib for s in _churn_samples(0.5))
    assert slow.memory_limit_mi >= (peak + slow.growth_folded_mib) * 1.15


def test_a_limit_check_runs_until_the_growth_reaches_the_limit_or_says_it_cannot() -> None:
    from loadtests.growth import measure_growth
    from loadtests.runner import MAX_DURATION, limit_check_plan

    flat = measure_growth(_churn_samples(0.0))
    assert limit_check_plan(600, 100, 70, flat)[0] == 600
    growing = measure_growth(_churn_samples(0.5))  # ~17.6 MiB/h
    assert growing is not None
    seconds, reach, note = limit_check_plan(60, 75, 70, growing)
    assert reach == pytest.approx(5 / (growing.mib_per_hour / 3600), rel=0.01)
    assert seconds >= reach
    seconds, reach, note = limit_check_plan(60, 700, 70, growing)
    assert seconds == MAX_DURATION and reach is not None and reach > MAX_DURATION
    assert note.startswith("could not reach the limit")
