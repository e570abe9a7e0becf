"""Property-based fuzzing of the contract with Schemathesis, against any sidecar URL.

pytest --pyargs suites.fuzz --sidecar-url URL [--fuzz-max-examples 100]
"""
