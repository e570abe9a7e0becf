"""The sizing report: JSON of everything, resources.yaml, and an HTML page with plots."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import statistics
from pathlib import Path
from typing import Any

from loadtests.sampler import Sample, as_dicts
from loadtests.sizing import Recommendation


def read_stats(prefix: Path) -> dict[str, dict[str, str]]:
    """Locust's ``<prefix>_stats.csv`` by request name."""
    path = Path(f"{prefix}_stats.csv")
    if not path.exists():
        return {}
    with path.open() as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def read_history(prefix: Path) -> list[dict[str, str]]:
    path = Path(f"{prefix}_stats_history.csv")
    if not path.exists():
        return []
    with path.open() as handle:
        return [row for row in csv.DictReader(handle) if row.get("Name") == "Aggregated"]


def _num(row: dict[str, str] | None, key: str) -> float | None:
    if not row or row.get(key) in (None, "", "N/A"):
        return None
    return float(row[key])


def headline(stats: dict[str, dict[str, str]], duration: float) -> dict[str, float | None]:
    created = _num(stats.get("POST /sessions"), "Request Count")
    return {
        "sessions_per_s": None if created is None else round(created / duration, 2),
        "first_event_p95_ms": _num(stats.get("first event"), "95%"),
        "complete_p95_ms": _num(stats.get("complete"), "95%"),
        "event_lag_p95_ms": _num(stats.get("event lag"), "95%"),
        "failures": sum(
            _num(r, "Failure Count") or 0 for n, r in stats.items() if n != "Aggregated"
        ),
    }


def _plots(
    samples: list[Sample], history: list[dict[str, str]], recommendation: Recommendation
) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(5, 1, figsize=(9, 14), sharex=False)
    if history:
        t0 = float(history[0]["Timestamp"])
        ts = [float(r["Timestamp"]) - t0 for r in history]
        axes[0].plot(ts, [float(r["User Count"]) for r in history], label="users")
        axes[0].plot(ts, [float(r["Requests/s"]) for r in history], label="requests/s")
        for key in ("50%", "95%"):
            axes[1].plot(
                ts,
                [float(r[key]) if r[key] not in ("N/A", "") else 0.0 for r in history],
                label=f"p{key.rstrip('%')} ms",
            )
    axes[0].set_title("load")
    axes[1].set_title("latency (all requests)")
    ts = [s.t for s in samples]
    axes[2].plot(ts, [s.cpu_cores * 1000 for s in samples], color="tab:red")
    axes[2].set_title("target CPU (millicores)")
    axes[3].plot(ts, [s.rss_mib for s in samples], color="tab:purple", label="RSS")
    growth = recommendation.growth
    if growth is not None and ts:
        intercept, slope = growth.line
        span = [growth.warmup_s, ts[-1]]
        axes[3].plot(
            span,
            [intercept + slope * t for t in span],
            color="black",
            linestyle="--",
            label=f"fitted growth {growth.mib_per_hour:+.1f} MiB/h",
        )
        axes[3].axvline(growth.warmup_s, color="grey", linestyle=":", label="end of warm-up")
    if recommendation.memory_limit_mi is not None:
        axes[3].axhline(recommendation.memory_limit_mi, color="tab:red", label="memory limit")
    axes[3].set_title("target RSS (MiB)")
    counted = [s for s in samples if s.finished_sessions is not None]
    axes[4].plot(
        [s.finished_sessions for s in counted], [s.rss_mib for s in counted], color="tab:purple"
    )
    if growth is not None and growth.kib_per_session is not None and counted:
        late = [s for s in counted if s.t >= growth.warmup_s] or counted
        x0, x1 = late[0].finished_sessions or 0.0, late[-1].finished_sessions or 0.0
        y0 = statistics.median(s.rss_mib for s in late)
        mid = sum(s.finished_sessions or 0.0 for s in late) / len(late)
        axes[4].plot(
            [x0, x1],
            [y0 + (x - mid) * growth.kib_per_session / 1024 for x in (x0, x1)],
            color="black",
            linestyle="--",
            label=f"fitted {growth.kib_per_session:+.2f} KiB/session",
        )
    axes[4].set_title("target RSS (MiB) against completed sessions")
    for axis in axes[:4]:
        axis.set_xlabel("seconds")
    axes[4].set_xlabel("completed sessions")
    for axis in axes:
        if axis.get_legend_handles_labels()[0]:
            axis.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def write_report(
    out: Path,
    run: dict[str, Any],
    samples: list[Sample],
    recommendation: Recommendation,
    max_sessions: int,
) -> None:
    prefix = out / "locust"
    stats = read_stats(prefix)
    history = read_history(prefix)
    figures = headline(stats, run["duration"])
    document = {
        **run,
        "headline": figures,
        "recommendation": recommendation.as_dict(),
        "samples": as_dicts(samples),
        "locust_stats": stats,
    }
    (out / "report.json").write_text(json.dumps(document, indent=2) + "\n")
    resources = recommendation.resources_yaml(max_sessions)
    (out / "resources.yaml").write_text(resources)
    png = _plots(samples, history, recommendation)
    (out / "plots.png").write_bytes(base64.b64decode(png))
    growth = recommendation.growth
    extra: dict[str, object] = {
        "growth": growth.describe() if growth is not None else "not measured",
        "rss_at": growth.rss_at if growth is not None else {},
        "horizon_hours": recommendation.horizon_hours,
        "growth_folded_mib": recommendation.growth_folded_mib,
        "limit_check": run.get("limit_check"),
    }
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in {**figures, **recommendation.observed, **extra}.items()
    )
    (out / "report.html").write_text(f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>opencode-sidecar load: {html.escape(run["profile"])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}td{{padding:.1rem .6rem}}</style>
</head><body><h1>Load profile {html.escape(run["profile"])}
against {html.escape(run["target"])}</h1>
<p>{run["users"]} users for {run["duration"]:g} s ({run["workers"]} workers).</p>
<h2>Recommended resources</h2><pre>{html.escape(resources)}</pre>
<h2>Figures</h2><table>{rows}</table>
<h2>Over time</h2><img alt="load, latency, CPU and RSS over time" src="data:image/png;base64,{png}">
</body></html>
""")
