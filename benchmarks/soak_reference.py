"""Disconnect hygiene of the reference sidecar at scale: 1,000 abrupt disconnects (TCP RST
and half-closed sockets) and 1,000 stalled readers on a running session; prints the
target's open fds and RSS before and after (must be within 5 %), and the /healthz p99
while the 1,000 readers are stalled (target < 200 ms). Prints figures; not a test.

    .venv/bin/python benchmarks/soak_reference.py [--disconnects 1000] [--stalled 1000]
"""

from __future__ import annotations

import argparse
import resource
import secrets
import tempfile
import time
import uuid
from pathlib import Path

from contract import soak_rules, stream_rules
from suites.clientkit.client import SidecarClient, model_config
from suites.clientkit.harness import fake_model_server, reference_argv, start_server
from suites.soak._footprint import Footprint, footprint
from suites.soak._gauges import wait_for_streams
from suites.soak._probes import ProbeSampler
from suites.soak._sockets import Leave, open_streams

SCENARIO = "long_running"
"""A fake-model session that runs a tool loop (a few events a second) for about 12 s;
``--scenario never_ending`` streams text every 50 ms instead (a heavier fan-out)."""
BATCH = 50
WITHIN = 0.05
PROBE_TARGET_MS = 200.0


def raise_fd_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def settle(client: SidecarClient, pid: int) -> Footprint:
    wait_for_streams(client, 0, 10.0)
    time.sleep(1.0)
    return footprint(client, pid)


def disconnects(url: str, secret: str, session_id: str, total: int) -> None:
    done = 0
    while done < total:
        how = Leave.RESET if (done // BATCH) % 2 == 0 else Leave.HALF_OPEN
        sockets = open_streams(url, secret, session_id, min(BATCH, total - done))
        for s in sockets:
            s.leave(how)
        for s in sockets:
            s.reset()
        done += len(sockets)


def compare(label: str, before: float | None, after: float | None, slack: float = 0.0) -> bool:
    """A leak grows: ``after`` may not exceed ``before`` by more than 5 % (or ``slack``)."""
    if before is None or after is None:
        print(f"  {label:18} n/a")
        return False
    change = (after - before) / before
    ok = change <= WITHIN or after - before <= slack
    verdict = "ok" if ok else "OVER 5 %"
    print(f"  {label:18} {before:>12.1f} -> {after:>12.1f}  ({change:+.1%}) {verdict}")
    return ok


def report(title: str, before: Footprint, after: Footprint) -> bool:
    print(title)
    # A pooled keep-alive connection to the model may come or go: the contract's slack.
    fds = compare("open fds", before.fds, after.fds, soak_rules().fd_tolerance)
    mib = 2**20
    rss = compare(
        "RSS (MiB)",
        before.rss / mib if before.rss else None,
        after.rss / mib if after.rss else None,
    )
    print(f"  active streams     {before.streams} -> {after.streams}")
    return fds and rss


def stalled_round(
    client: SidecarClient,
    url: str,
    secret: str,
    session_id: str,
    stalled: int,
    pid: int,
    quiet: bool = False,
) -> tuple[float, list[str]]:
    """Hold ``stalled`` readers that never read, sample the probes, reset them all."""
    receive_buffer = soak_rules().stalled_receive_buffer
    readers = []
    for _ in range(0, stalled, BATCH):
        readers += open_streams(url, secret, session_id, BATCH, receive_buffer)
    held = footprint(client, pid)
    with ProbeSampler(url) as sampler:
        time.sleep(5.0)
    p99 = sampler.p99()
    for s in readers:
        s.reset()
    if not quiet:
        print(
            f"/healthz+/ready with {len(readers)} stalled readers: p99 {p99:.1f} ms, "
            f"max {max(sampler.latencies_ms):.1f} ms over {sampler.sent} probes "
            f"({'ok' if p99 < PROBE_TARGET_MS else 'OVER'} < {PROBE_TARGET_MS:g} ms); "
            f"held: {held.show()}"
        )
    return p99, sampler.failures


def main(total_disconnects: int, stalled: int, scenario: str) -> int:
    limit = raise_fd_limit(stalled + 4096)
    secret = secrets.token_urlsafe(16)
    print(f"fd limit {limit}; {total_disconnects} disconnects, {stalled} stalled readers")
    with (
        tempfile.TemporaryDirectory() as workdir,
        fake_model_server() as model,
        # the secret in its environment, as deployed (a token may start with "-")
        start_server(
            reference_argv(Path(workdir)), env={"OPENCODE_SHARED_SECRET": secret}
        ) as server,
        SidecarClient(server.url, secret) as client,
    ):
        pid = server.process.pid

        def finish(session_id: str) -> None:
            """Cancel a phase's session and wait for its end (its tool and model fds close)."""
            client.cancel(session_id)
            client.wait_for_status(session_id, stream_rules().ended_statuses)

        def session() -> str:
            """A fresh running session for each phase (long_running ends after ~12 s)."""
            session_id = str(uuid.uuid4())
            client.create_session(session_id, "Soak.", model_config(scenario, model.url))
            return session_id

        cold = settle(client, pid)
        # Warm-up at the same scale: the allocator keeps its high-water mark (arenas of
        # 1,000 concurrent connections), which is not a leak; the baseline is taken after.
        warm = session()
        disconnects(server.url, secret, warm, 2 * BATCH)
        stalled_round(client, server.url, secret, warm, stalled, pid, quiet=True)
        finish(warm)
        baseline = settle(client, pid)
        print(f"cold: {cold.show()}; baseline after one warm-up round: {baseline.show()}")

        started = time.monotonic()
        storm = session()
        disconnects(server.url, secret, storm, total_disconnects)
        finish(storm)
        took = time.monotonic() - started
        after_storm = settle(client, pid)
        print(f"{total_disconnects} abrupt disconnects in {took:.1f} s")
        ok = report("after the disconnects (baseline -> after):", baseline, after_storm)

        stalling = session()
        p99, failures = stalled_round(client, server.url, secret, stalling, stalled, pid)
        finish(stalling)
        after_stalled = settle(client, pid)
        ok = (
            report("after the stalled readers (baseline -> after):", baseline, after_stalled) and ok
        )
        ok = ok and p99 < PROBE_TARGET_MS and not failures
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--disconnects", type=int, default=1000)
    parser.add_argument("--stalled", type=int, default=1000)
    parser.add_argument("--scenario", default=SCENARIO, help="fake-model scenario of the sessions")
    args = parser.parse_args()
    raise SystemExit(main(args.disconnects, args.stalled, args.scenario))
