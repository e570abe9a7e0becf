"""The conformance suite: one test per clause of the catalogue, runnable against any URL.

pytest --pyargs suites.conformance --sidecar-url http://127.0.0.1:3003
"""
