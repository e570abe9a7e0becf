"""The security suite: auth bypass attempts on every route, oversized and malformed input,
header and frame injection, the tool sandbox (driven through the fake model's tool calls),
secret leakage in every response and event, and the metrics. Runnable against any URL:

pytest --pyargs suites.security --sidecar-url http://127.0.0.1:3003 --sidecar-secret S
"""
