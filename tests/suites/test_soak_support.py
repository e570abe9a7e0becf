"""The soak suite's own pieces: bounds from the contract, the timing re-check, durations."""

from __future__ import annotations

import pytest

from contract import soak_rules, stream_rules
from fakes.scenarios import load_scenarios
from suites.clientkit.stats import percentile
from suites.plugin.target import duration
from suites.soak._probes import Timed, timed_check


def test_bounds_come_from_the_contract() -> None:
    rules = soak_rules()
    assert rules.release_seconds > 0 and rules.probe_p99_ms > 0
    assert rules.within_band(rules.probe_p99_ms * rules.timing_tolerance_factor, rules.probe_p99_ms)
    assert not rules.within_band(rules.probe_p99_ms * 2 * rules.timing_tolerance_factor, 1.0)
    assert rules.rss_allowed(100 * 2**20) >= 100 * 2**20 + rules.rss_tolerance_bytes
    assert {rules.scenario, rules.flood_scenario} <= set(load_scenarios())


def test_a_timing_failure_is_rechecked_once_and_says_so() -> None:
    calls: list[int] = []

    def measure() -> Timed:
        calls.append(1)
        return Timed(True, "p99 12 ms")

    result, note = timed_check(measure, Timed(False, "p99 900 ms"))
    assert result.ok and len(calls) == 1
    assert note == "p99 12 ms (re-checked once: first run p99 900 ms)"
    result, note = timed_check(measure, Timed(True, "p99 5 ms"))
    assert result.ok and note == "p99 5 ms" and len(calls) == 1


def test_percentile_and_ended_statuses() -> None:
    assert percentile([float(i) for i in range(1, 101)], 0.99) == pytest.approx(99.01)
    assert percentile([], 0.99) == 0.0
    assert {"completed", "failed", "cancelled"} <= stream_rules().ended_statuses


def test_flood_scenario_repeats_its_chunks() -> None:
    flood = load_scenarios()[soak_rules().flood_scenario]
    assert sum(len(c) for c in flood.turns[0].chunks) > 2 * 2**20


@pytest.mark.parametrize(("raw", "seconds"), [("90", 90.0), ("90s", 90.0), ("10m", 600.0)])
def test_soak_durations(raw: str, seconds: float) -> None:
    assert duration(raw) == seconds


@pytest.mark.parametrize("raw", ["soon", "-5", "0m"])
def test_bad_soak_durations(raw: str) -> None:
    with pytest.raises(ValueError):
        duration(raw)


def test_a_negative_fast_read_change_is_clamped_not_billed_to_readers() -> None:
    from suites.soak._footprint import stalled_reader_cost

    mib = 2**20
    # RSS fell 12.6 MiB during the fast read (GC): the readers hold 20 KiB each
    per_reader, formula = stalled_reader_cost(100 * mib, 87.4 * mib, 87.4 * mib + 50 * 20480, 50)
    assert per_reader == pytest.approx(20480)
    assert "max(0, 87.40 MiB - start 100.00 MiB) = 0.00 MiB" in formula
    assert formula.endswith("/ 50 readers = 0.02 MiB")
    # a positive output cost is subtracted
    per_reader, _ = stalled_reader_cost(100 * mib, 110 * mib, 130 * mib, 10)
    assert per_reader == pytest.approx(1 * mib)


def test_rss_is_the_median_of_several_readings(monkeypatch: pytest.MonkeyPatch) -> None:
    from suites.soak import _footprint

    readings = iter([10.0, 500.0, 11.0, 12.0, 9.0])
    monkeypatch.setattr(_footprint, "RSS_SAMPLE_INTERVAL", 0.0)
    monkeypatch.setattr(
        _footprint,
        "footprint",
        lambda client, pid: _footprint.Footprint(None, None, next(readings)),
    )
    assert _footprint.steady_rss(None, 1) == 11.0  # type: ignore[arg-type]
