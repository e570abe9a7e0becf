"""The agent's tools over one session workspace (tools.yaml), shared by both runtimes:
``files`` (read, write, edit; standard library alone), ``confined_io`` (one file tool call
in a child confined to the workspace), ``tools`` (``bash`` and the async entry point) and
``confined`` (where each call runs: through the sandbox launcher)."""
