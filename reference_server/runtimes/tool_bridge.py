"""Every tool call of the shared OpenCode runs in the sidecar, confined to its session.

One ``opencode serve`` serves every session, so its own process must not touch a session's
files: a Landlock domain is per process, and one shared by all sessions cannot keep one
session's ``read`` out of another's workspace. OpenCode lets custom tools replace its
built-in tools of the same name (custom tools are indexed by name and win; files in
``tools/`` of its global config dir). So :func:`tool_files` writes one small JavaScript
tool per contract tool (``read``, ``write``, ``edit``, ``bash``) that hands the call to
this bridge, and a refusing one for each other built-in tool that reaches the disk
(``glob``, ``grep``, ``list``, ``apply_patch``, ``lsp``): OpenCode never runs those itself.

The bridge is a loopback HTTP endpoint (a random token, 127.0.0.1 only). It knows which
OpenCode session belongs to which sidecar session (:meth:`ToolBridge.attach`), so a call
names its OpenCode ``sessionID`` only and the workspace comes from the sidecar's own
record, never from OpenCode. Each call runs through
:class:`~reference_server.workspace_tools.confined.ConfinedWorkspaceTools`, the fake
runtime's confined tools: ``bash`` through the sandbox launcher (its workspace read-write,
the system read-only), each file tool in a child confined to the workspace alone. A call
for an unknown session (a subagent's, or one already ended) is refused.

:data:`ToolGate` is the seam a permission gate plugs into: called before each call with
the session and the call; a text refuses the call (a tool error), ``None`` lets it run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from contract import tool_contract
from reference_server.runtime import EventSink, SessionSpec
from reference_server.sandbox import Sandbox
from reference_server.workspace_tools.confined import ConfinedWorkspaceTools
from reference_server.workspace_tools.files import ToolError

log = logging.getLogger("reference_server.runtimes.opencode")

ToolGate = Callable[[SessionSpec, str, Mapping[str, Any]], Awaitable[str | None]]
"""``gate(spec, tool, args)``: a refusal text, or ``None`` to run the call."""

REFUSED_BUILTINS = ("glob", "grep", "list", "apply_patch", "lsp")
"""OpenCode's other built-in tools that reach the disk: replaced by tools that refuse."""

_TOOL_JS = """\
// Written by opencode-sidecar: `{name}` runs in the sidecar, confined to the session's
// workspace (reference_server/runtimes/tool_bridge.py). OpenCode never runs it itself.
const BRIDGE = {url};
const TOKEN = {token};
export default {{
  description: {description},
  args: {args},
  async execute(args, ctx) {{
    const response = await fetch(BRIDGE, {{
      method: "POST",
      headers: {{"content-type": "application/json", authorization: "Bearer " + TOKEN}},
      body: JSON.stringify({{
        tool: {name_json}, args, session: ctx.sessionID, call: ctx.callID ?? null,
      }}),
      signal: ctx.abort,
      timeout: false,
    }});
    const answer = await response.json();
    if (typeof answer.error === "string") throw new Error(answer.error);
    return {{output: String(answer.output ?? ""), title: "", metadata: answer.metadata ?? {{}}}};
  }},
}};
"""

_REFUSING_JS = """\
// Written by opencode-sidecar: OpenCode's own `{name}` would run in OpenCode's process,
// outside any session's confinement; it is off.
export default {{
  description: "Not available on this sidecar.",
  args: {{}},
  async execute() {{
    throw new Error("{name} is not available on this sidecar");
  }},
}};
"""


def tool_files(url: str, token: str) -> dict[str, str]:
    """``tools/<name>.js`` -> source: the bridged contract tools and the refusing ones."""
    files: dict[str, str] = {}
    for name, spec in tool_contract().tools.items():
        properties = dict(spec.parameters.get("properties", {}))
        files[f"tools/{name}.js"] = _TOOL_JS.format(
            name=name,
            name_json=json.dumps(name),
            url=json.dumps(url),
            token=json.dumps(token),
            description=json.dumps(spec.description),
            args=json.dumps(properties),
        )
    for name in REFUSED_BUILTINS:
        files[f"tools/{name}.js"] = _REFUSING_JS.format(name=name)
    return files


@dataclass
class BridgedSession:
    """One sidecar session's tools, as OpenCode's session reaches them."""

    spec: SessionSpec
    tools: ConfinedWorkspaceTools
    sink: EventSink | None = None
    """The session's sink: its permission gate (``authorize``) is asked before each call."""
    announce: Callable[[str, str, Mapping[str, Any]], None] | None = None
    """Emits a call's ``tool_call`` (once) before its permission is asked."""
    calls: set[asyncio.Task[str]] = field(default_factory=set)


class ToolBridge:
    """The loopback endpoint OpenCode's custom tools call; one per runtime."""

    def __init__(
        self,
        sandbox: Sandbox | None,
        bash_timeout: float,
        output_cap: int,
        directory: Path,
        gate: ToolGate | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.directory = directory
        """OpenCode's working directory for every session: paths under it are the
        session's workspace's."""
        self.bash_timeout = bash_timeout
        self.output_cap = output_cap
        self.gate = gate
        self.token = secrets.token_urlsafe(24)
        self.url = ""
        self._sessions: dict[str, BridgedSession] = {}
        self._calls = itertools.count(1)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/tool", self._call)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/tool"

    async def close(self) -> None:
        for opencode_session in list(self._sessions):
            self.detach(opencode_session)
        if self._runner is not None:
            await self._runner.cleanup()

    def files(self) -> dict[str, str]:
        return tool_files(self.url, self.token)

    def attach(
        self,
        opencode_session: str,
        spec: SessionSpec,
        sink: EventSink | None = None,
        announce: Callable[[str, str, Mapping[str, Any]], None] | None = None,
    ) -> BridgedSession:
        tools = ConfinedWorkspaceTools(
            spec.workspace,
            bash_timeout=self.bash_timeout,
            output_cap=self.output_cap,
            sandbox=self.sandbox,
        )
        bridged = BridgedSession(spec, tools, sink, announce)
        self._sessions[opencode_session] = bridged
        return bridged

    def detach(self, opencode_session: str) -> None:
        """The session ended: its running calls are cancelled (a bash command's process
        group is killed), and later calls for it are refused."""
        bridged = self._sessions.pop(opencode_session, None)
        if bridged is None:
            return
        for task in bridged.calls:
            task.cancel()
        bridged.tools.kill()

    async def _call(self, request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            return web.json_response({"error": "bridge token required"}, status=401)
        try:
            body = await request.json()
            tool, args = str(body["tool"]), body.get("args") or {}
            call_id = body.get("call")
            bridged = self._sessions.get(str(body["session"]))
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "malformed tool call"}, status=400)
        if bridged is None:
            return web.json_response({"error": "no running session of this sidecar"})
        if not isinstance(args, dict):
            return web.json_response({"error": "tool arguments must be an object"})
        call = call_id if isinstance(call_id, str) and call_id else f"bridge-{next(self._calls)}"
        return web.json_response(await self._run(bridged, call, tool, args))

    async def _run(
        self, bridged: BridgedSession, call_id: str, tool: str, args: dict[str, Any]
    ) -> Any:
        if tool not in bridged.spec.model.enabled_tools:
            return {"error": f"tool {tool!r} is not enabled for this session"}
        if bridged.sink is not None:  # the session's permission policy (STREAM_RULES.md)
            if bridged.announce is not None:
                bridged.announce(call_id, tool, args)
            permission = await bridged.sink.authorize(call_id, tool, args)
            if not permission.allowed:
                return {"error": permission.message or f"permission to run {tool} was denied"}
        if self.gate is not None and (refusal := await self.gate(bridged.spec, tool, args)):
            return {"error": refusal}
        args = rebased(args, self.directory, bridged.spec.workspace)
        task = asyncio.ensure_future(bridged.tools.run(tool, args))
        bridged.calls.add(task)
        try:
            output = await task
        except ToolError as exc:
            return {"error": str(exc) or "the tool failed"}
        except asyncio.CancelledError:
            if task.cancelled():  # the session ended, not this request
                return {"error": "the session ended"}
            raise
        finally:
            bridged.calls.discard(task)
        metadata = {"filepath": args.get("filePath")} if tool in ("write", "edit") else {}
        return {"output": output, "metadata": metadata}


def rebased(args: dict[str, Any], directory: Path, workspace: Path) -> dict[str, Any]:
    """``args`` with OpenCode's working directory (shared by every session) read as the
    session's workspace: an absolute ``filePath`` under it, and the directory named in a
    ``bash`` command."""
    out = dict(args)
    path = out.get("filePath")
    if isinstance(path, str) and Path(path).is_absolute():
        with contextlib.suppress(ValueError):
            out["filePath"] = str(workspace / Path(path).relative_to(directory))
    command = out.get("command")
    if isinstance(command, str):
        out["command"] = command.replace(str(directory), str(workspace))
    return out
