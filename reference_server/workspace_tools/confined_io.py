"""``python -I -m reference_server.workspace_tools.confined_io WORKSPACE`` < ``{"tool", "args"}``

One file tool call (of either runtime), run in a process confined by Landlock to
``WORKSPACE`` alone (read-write; nothing else, not even the system: everything this
process needs is imported before the rules apply). The call itself is
:meth:`~reference_server.workspace_tools.files.WorkspaceFiles.run_file_tool`, so semantics
live in one place (a module that imports the standard library alone: this process starts
on every call). Prints ``{"output": ...}`` or ``{"error": ...}`` and the files it modified, as JSON.
"""

from __future__ import annotations

import encodings.utf_8  # noqa: F401  (imported before confinement: the codec of the answer)
import json
import sys
from pathlib import Path

from reference_server.sandbox.capabilities import drop_all
from reference_server.sandbox.landlock import READ_WRITE, Rule, restrict
from reference_server.workspace_tools.files import ToolError, WorkspaceFiles


def main(argv: list[str]) -> int:
    root = Path(argv[0]).resolve()
    request = json.loads(sys.stdin.buffer.read())
    tools = WorkspaceFiles(root)
    try:
        drop_all()
        restrict([Rule(root, READ_WRITE)])
    except OSError as exc:
        json.dump({"error": f"sandbox: refusing to run unconfined: {exc}"}, sys.stdout)
        return 0
    try:
        output = tools.run_file_tool(str(request["tool"]), dict(request["args"]))
        answer: dict[str, object] = {"output": output}
    except ToolError as exc:
        answer = {"error": str(exc)}
    except PermissionError as exc:
        answer = {"error": f"refused by the sandbox: {exc.strerror} ({exc.filename})"}
    except OSError as exc:
        answer = {"error": f"{exc.strerror or exc} ({exc.filename})"}
    answer["modified"] = tools.modified
    json.dump(answer, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
