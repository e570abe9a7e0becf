"""Kill -9 the reference (STORAGE_DIR set) under live sessions with readers, over and over,
and count what was lost (prints figures; not a test).

Each cycle starts ``--sessions`` ``long_running`` sessions of the fake model server, attaches
one SSE reader to each, waits until every reader has received a few events, kills the
server with SIGKILL through the supervisor (``suites.clientkit.supervisor restart``), waits
until it is back on the same URL, then for every session compares what its reader received
with a fresh replay and with a ``Last-Event-ID`` resume:

* lost: an event a reader received that the replay lacks or changed;
* duplicates: an id the replay or the resume holds twice, or a resume that repeats an event;
* bad ends: a session without exactly one terminal event, the interrupted error, last.

    .venv/bin/python benchmarks/durability_reference.py [--cycles 20] [--sessions 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from contract import stream_rules
from suites.clientkit.client import AsyncSidecarClient, model_config
from suites.clientkit.harness import fake_model_server, reference_argv, start_server
from suites.clientkit.supervisor import PORT_PLACEHOLDER, restart_command, supervised_argv

Item = tuple[str | None, str, str]


@dataclass
class Totals:
    received: int = 0
    replayed: int = 0
    lost: int = 0
    duplicates: int = 0
    bad_ends: int = 0
    restart_seconds: list[float] = field(default_factory=list)


async def _read(client: AsyncSidecarClient, session_id: str, into: list[Item]) -> None:
    unnumbered = stream_rules().unnumbered_events
    try:
        async with client.open_stream(session_id, read_timeout=120) as stream:
            async for event in client.events(stream):
                if event.event not in unnumbered:
                    into.append((event.id, event.event, event.data))
    except (httpx.HTTPError, OSError):
        return


async def _history(
    client: AsyncSidecarClient, session_id: str, last: str | None = None
) -> list[Item]:
    unnumbered = stream_rules().unnumbered_events
    found: list[Item] = []
    async with client.open_stream(session_id, last, read_timeout=30) as stream:
        if stream.response.status_code != 200:
            return found
        async for event in client.events(stream):
            if event.event not in unnumbered:
                found.append((event.id, event.event, event.data))
    return found


async def _back(client: AsyncSidecarClient) -> None:
    while True:
        try:
            if (await client.liveness()).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.05)


def _judge(received: list[Item], replay: list[Item], resumed: list[Item], t: Totals) -> None:
    rules = stream_rules()
    t.received += len(received)
    t.replayed += len(replay)
    t.lost += sum(1 for a, b in zip(received, replay, strict=False) if a != b)
    t.lost += max(0, len(received) - len(replay))
    ids = [i for i, _, _ in replay]
    t.duplicates += len(ids) - len(set(ids))
    expected = replay[len(received) :]
    t.duplicates += sum(1 for item in resumed if item in received)
    t.lost += sum(1 for item in expected if item not in resumed)
    terminals = [e for e in replay if rules.is_terminal(e[1], json.loads(e[2]))]
    last = replay[-1] if replay else None
    if (
        len(terminals) != 1
        or last is None
        or terminals[0] != last
        or not rules.is_interrupted(last[1], json.loads(last[2]))
    ):
        t.bad_ends += 1


async def _cycle(url: str, model_url: str, sessions: int, restart: str, totals: Totals) -> None:
    async with AsyncSidecarClient(url, timeout=httpx.Timeout(30.0)) as client:
        ids = []
        for _ in range(sessions):
            session_id = str(uuid.uuid4())
            created = await client.create_session(
                session_id, "go", model_config("long_running", model_url, "sk-bench")
            )
            assert created.status_code == 201, created.text
            ids.append(session_id)
        received: dict[str, list[Item]] = {sid: [] for sid in ids}
        readers = [asyncio.create_task(_read(client, sid, received[sid])) for sid in ids]
        while any(len(items) < 3 for items in received.values()):
            await asyncio.sleep(0.05)
        started = time.monotonic()
        process = await asyncio.create_subprocess_shell(restart)
        assert await process.wait() == 0, "the restart command failed"
        await asyncio.gather(*readers)
    async with AsyncSidecarClient(url, timeout=httpx.Timeout(30.0)) as client:
        await _back(client)
        totals.restart_seconds.append(time.monotonic() - started)
        snapshot = {sid: list(items) for sid, items in received.items()}
        replays = await asyncio.gather(*(_history(client, sid) for sid in ids))
        resumes = await asyncio.gather(
            *(_history(client, sid, snapshot[sid][-1][0]) for sid in ids)
        )
        for sid, replay, resumed in zip(ids, replays, resumes, strict=True):
            _judge(snapshot[sid], replay, resumed, totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=50)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ocs-durability-"))
    totals = Totals()
    started = time.monotonic()
    try:
        inner = reference_argv(
            workdir / "workspace",
            "--storage-dir",
            str(workdir / "storage"),
            "--max-sessions",
            str(args.sessions),
            port=PORT_PLACEHOLDER,
        )
        state = workdir / "supervisor"
        with fake_model_server() as model, start_server(supervised_argv(state, inner)) as server:
            for n in range(args.cycles):
                asyncio.run(
                    _cycle(server.url, model.url, args.sessions, restart_command(state), totals)
                )
                print(
                    f"cycle {n + 1:2}: received {totals.received:6} lost {totals.lost} "
                    f"duplicates {totals.duplicates} bad ends {totals.bad_ends} "
                    f"(back in {totals.restart_seconds[-1]:.2f} s)",
                    flush=True,
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    restarts = totals.restart_seconds
    print(
        f"{args.cycles} kill -9 cycles x {args.sessions} live sessions with readers: "
        f"{totals.received} events received before the crashes, {totals.replayed} replayed"
    )
    print(
        f"events lost: {totals.lost}  duplicates: {totals.duplicates}  bad ends: {totals.bad_ends}"
    )
    print(
        f"restart (kill -> back): mean {sum(restarts) / len(restarts):.2f} s, "
        f"max {max(restarts):.2f} s; total {elapsed:.1f} s"
    )


if __name__ == "__main__":
    main()
