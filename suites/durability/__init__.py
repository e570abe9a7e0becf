"""The durability suite: kill the sidecar with SIGKILL while sessions run and readers
follow them, restart it on the same URL, and check that nothing was lost: every event a
reader had received is replayed identically, interrupted sessions end with the
``interrupted`` terminal event, Last-Event-ID resumes across the restart, ids stay taken.
Runnable against any sidecar that a shell command can kill and restart:

pytest --pyargs suites.durability --sidecar-url http://127.0.0.1:3003 \\
    --sidecar-restart-cmd "kubectl delete pod sidecar-0 --grace-period=0 --force"

Without ``--sidecar-restart-cmd`` every durability clause is skipped.
"""
