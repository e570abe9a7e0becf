"""The conversation suite: follow-up prompts (``continue_from``, profile ``followup``) and
permission requests the backend answers (``permissions``, profile ``permissions``), judged
from each session's stream, its status, and the fake model's audit of every request
(``GET /_fake/requests``). Runnable against any URL whose sidecar can reach the fake model:

pytest --pyargs suites.conversation --sidecar-url http://127.0.0.1:3003 --sidecar-secret S
"""
