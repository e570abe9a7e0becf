"""Events per second through the reference's event log: in memory vs the SQLite store.

Every session's log is followed by one subscriber (as a stream would); producers append
``output`` events round-robin over the sessions, yielding to the loop after each round,
and end each session with its terminal event. The clock stops when every subscriber has
received every event, so the SQLite figure includes the commit before publication.
Target: SQLite >= 0.8x in memory. (SQLite can come out ahead: a committed batch is
published at once, so subscribers wake once per batch instead of once per event; the
writer thread's inserts run beside the loop.)

    .venv/bin/python benchmarks/event_store.py [--sessions 50] [--events 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from reference_server.event_log import EventLog
from reference_server.storage import Storage

TEXT = "Step 3: waiting for the tool to finish... " * 2


async def events_per_second(storage: Storage | None, sessions: int, events: int) -> float:
    ids = [str(uuid.uuid4()) for _ in range(sessions)]
    if storage is not None:
        storage.start(asyncio.get_running_loop())
        for sid in ids:
            storage.add_session(sid, "2026-01-01T00:00:00.000Z", {"session_id": sid})
    logs = [EventLog(committer=storage.committer(sid) if storage else None) for sid in ids]

    async def follow(log: EventLog) -> int:
        received = 0
        async for batch in log.follow(0, idle=30.0):
            received += len(batch)
        return received

    started = time.perf_counter()
    followers = [asyncio.create_task(follow(log)) for log in logs]
    for n in range(events - 1):
        for log in logs:
            log.append("output", {"type": "stdout", "text": TEXT, "timestamp": f"{n}"})
        await asyncio.sleep(0)
    for log in logs:
        log.append("complete", {"final_message": "done", "files_modified": []})
    received = sum(await asyncio.gather(*followers))
    elapsed = time.perf_counter() - started
    assert received == sessions * events, (received, sessions * events)
    if storage is not None:
        await storage.close(30.0)
    return received / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--events", type=int, default=2000, help="events per session")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    memory, sqlite = [], []
    for _ in range(args.repeat):
        memory.append(asyncio.run(events_per_second(None, args.sessions, args.events)))
        with tempfile.TemporaryDirectory(prefix="ocs-bench-") as tmp:
            storage = Storage.open(Path(tmp))
            sqlite.append(asyncio.run(events_per_second(storage, args.sessions, args.events)))
    mem, sql = statistics.median(memory), statistics.median(sqlite)
    total = args.sessions * args.events
    print(
        f"{args.sessions} sessions x {args.events} events = {total} events, median of {args.repeat}"
    )
    print(f"in memory: {mem:12,.0f} events/s")
    print(f"SQLite:    {sql:12,.0f} events/s")
    print(f"ratio:     {sql / mem:12.2f} (target >= 0.80)")


if __name__ == "__main__":
    main()
