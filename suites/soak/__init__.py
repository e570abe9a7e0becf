"""The soak suite: disconnect hygiene. Clients that leave abruptly (TCP RST, half-closed
sockets) over cycles of streams on running sessions, readers that stall (small receive
buffer, never read) on a session with a large output, and the probes sampled throughout.
It watches the target from outside: the active streams gauge of /metrics and, with the
target's PID, its open fds and RSS. Runnable against any URL:

pytest --pyargs suites.soak --sidecar-url http://127.0.0.1:3003 --sidecar-pid 1234 \
    [--soak-duration 60]

Bounds are data (``contract/stream.yaml``'s ``soak:``); timing results are judged with its
tolerance band and re-checked once in isolation before they fail (the message says so).
"""
