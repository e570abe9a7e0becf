"""The agent suite: what a sidecar asks the model (``contract/model.yaml``) and what its
tools really do (``contract/tools.yaml``), judged from the fake model's audit of every
request (``GET /_fake/requests``) and from each session's stream; disk state with
``--workspace``. Runnable against any URL whose sidecar can reach the fake model:

pytest --pyargs suites.agent --sidecar-url http://127.0.0.1:3003 --sidecar-secret S
"""
