"""The ``load`` subcommand of ``opencode-sidecar``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from loadtests.profiles import load_profiles
from loadtests.runner import MAX_DURATION, MAX_USERS, LoadError, LoadOptions, run_load


def add_load_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    profiles = load_profiles()
    p = sub.add_parser(
        "load",
        help="load a sidecar with a Locust profile and recommend pod resources",
        description="Run a Locust profile (headless, as a subprocess) against a sidecar, "
        "sample its process tree, and write a sizing report (report.json, resources.yaml, "
        "report.html with plots) into --out. Profiles: "
        + "; ".join(f"{p.name}: {p.description}" for p in profiles.values()),
    )
    p.add_argument("--profile", choices=sorted(profiles), default="steady")
    p.add_argument("--target", metavar="URL", help="the sidecar to load (or --spawn)")
    p.add_argument("--spawn", action="store_true", help="start the reference sidecar here")
    p.add_argument("--pid", type=int, help="the target's PID, to sample its CPU and memory")
    p.add_argument(
        "--runtime",
        choices=["fake", "opencode"],
        default="fake",
        help="runtime of the spawned reference",
    )
    p.add_argument("--users", type=int, default=10, help=f"peak users (1..{MAX_USERS})")
    p.add_argument("--duration", type=float, default=60.0, help=f"seconds (5..{MAX_DURATION:g})")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="Locust workers (master + K workers on this machine; 0 = local)",
    )
    p.add_argument(
        "--max-sessions",
        type=int,
        default=5,
        help="the target's MAX_CONCURRENT_SESSIONS (sizes the memory limit)",
    )
    p.add_argument("--secret", help="the target's shared bearer secret")
    p.add_argument(
        "--model-endpoint",
        metavar="URL",
        help="a fake model server the target can reach (default: start one)",
    )
    p.add_argument("--out", type=Path, default=Path("load-report"), help="report folder")
    p.add_argument(
        "--check-limits",
        action="store_true",
        help="re-run under a watchdog at the recommended memory limit, long enough to reach "
        "it at the measured growth rate (at most 30 min)",
    )
    p.add_argument(
        "--horizon",
        type=float,
        default=24.0,
        metavar="HOURS",
        help="hours of measured memory growth folded into the limit (default 24)",
    )
    p.add_argument(
        "--warmup",
        type=float,
        metavar="SECONDS",
        help="seconds before growth is fitted (default: the first third of the run)",
    )
    p.set_defaults(func=_load)


def _load(args: argparse.Namespace) -> int:
    options = LoadOptions(
        profile=args.profile,
        target=args.target,
        users=args.users,
        duration=args.duration,
        pid=args.pid,
        spawn=args.spawn,
        runtime=args.runtime,
        workers=args.workers,
        out=args.out,
        secret=args.secret,
        model_endpoint=args.model_endpoint,
        max_sessions=args.max_sessions,
        check_limits=args.check_limits,
        horizon_hours=args.horizon,
        warmup=args.warmup,
    )
    try:
        figures = run_load(options, os.environ)
    except LoadError as exc:
        raise SystemExit(f"opencode-sidecar load: {exc}") from None
    print(figures.pop("resources"))
    refused = figures.pop("refused")
    if refused:
        print(f"No memory limit recommended: {refused}")
    for key, value in figures.items():
        print(f"{key}: {value}")
    print(f"Report: {args.out / 'report.html'}")
    return 0
