"""The retention suite: a finished session stays readable for the target's declared
SESSION_RETENTION (and among its MAX_RETAINED_SESSIONS most recently finished), then every
route naming it answers the contract's expired outcome (404) with the JSON error body.
It waits out the retention, so it needs a target declared with a short one:

pytest --pyargs suites.retention --sidecar-url http://127.0.0.1:3003 \
    --sidecar-session-retention 20 [--sidecar-max-retained-sessions 100]
"""
