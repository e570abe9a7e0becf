"""A Hypothesis state machine of the session lifecycle, against any sidecar URL.

pytest --pyargs suites.lifecycle_model --sidecar-url URL
"""
