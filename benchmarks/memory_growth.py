"""Memory growth of a recorded load run, re-fitted from its ``report.json``.

``opencode-sidecar load`` keeps every sample (RSS of the target's process tree and the
sessions-finished counter of ``/metrics``) in ``report.json``; this prints the growth the
sizing method finds in them (KiB per completed session, MiB per hour, RSS at 1, 5, 10
minutes) and the resources it recommends, for another warm-up or horizon without running
the load again. Target (issue 22): the reference under ``steady`` grows by at most 1 KiB
per completed session once its retention is full.

    .venv/bin/python benchmarks/memory_growth.py load-report/report.json \\
        [--warmup SECONDS] [--horizon HOURS] [--max-sessions 5]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from loadtests.sampler import Sample
from loadtests.sizing import recommend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--warmup", type=float, default=None)
    parser.add_argument("--horizon", type=float, default=24.0)
    parser.add_argument("--max-sessions", type=int, default=5)
    args = parser.parse_args()
    document = json.loads(args.report.read_text())
    samples = [Sample(**s) for s in document["samples"]]
    recommendation = recommend(samples, args.max_sessions, args.horizon, args.warmup)
    growth = recommendation.growth
    print(f"{args.report}: {len(samples)} samples over {samples[-1].t:.0f} s")
    if growth is not None:
        print(growth.describe())
        print(f"RSS at: {growth.rss_at}")
        print(
            f"KiB/session {growth.kib_per_session} ± {growth.kib_per_session_stderr}; "
            f"MiB/h {growth.mib_per_hour} ± {growth.mib_per_hour_stderr}; "
            f"sessions/h {growth.sessions_per_hour}"
        )
    if "limit_check" in document:
        print(f"limit check of the run: {document['limit_check']}")
    print(recommendation.resources_yaml(args.max_sessions), end="")


if __name__ == "__main__":
    main()
