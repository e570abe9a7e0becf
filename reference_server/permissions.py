"""Permission requests: a session's policy, and the gate its tool calls pass through.

``POST /sessions`` may carry ``permissions`` (openapi.yaml ``PermissionPolicy``): per tool
``allow`` | ``ask`` | ``deny``, and for bash rules by command pattern. The runtime awaits
:meth:`PermissionGate.authorize` before each tool runs (``EventSink.authorize``, the
runtime seam), so every runtime gets the same rules (STREAM_RULES.md#permissions):

* ``allow`` (and every tool the policy does not list): run, emit nothing;
* ``deny``: do not run, emit nothing; the model receives the refusal as the tool's error;
* ``ask``: emit ``permission_request``, wait for :meth:`PermissionGate.answer` (REST or
  WebSocket) or ``PERMISSION_TIMEOUT`` (then deny), emit ``permission_resolved``;
  ``allow_always`` lets later calls matched by the same rule run without asking.

Bash patterns are globs over the whole command (:mod:`fnmatch`'s ``*`` and ``?``; ``[``
is taken literally, so a command's brackets never turn a pattern into a class).
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from reference_server.event_log import utc_now
from reference_server.runtime import ALLOWED, ToolPermission

Action = Literal["allow", "ask", "deny"]
Decision = Literal["allow_once", "allow_always", "deny"]
DECISIONS: tuple[Decision, ...] = ("allow_once", "allow_always", "deny")
POLICY_DENIED = "denied by the session's permission policy"
DENIED = "denied by the backend"


def _glob(pattern: str) -> re.Pattern[str]:
    """``*`` any characters (spaces included), ``?`` one; everything else literal."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


@dataclass(frozen=True)
class CommandRule:
    pattern: str
    action: Action

    def matches(self, command: str) -> bool:
        return _glob(self.pattern).fullmatch(command) is not None


@dataclass(frozen=True)
class PermissionPolicy:
    """What each tool may do without asking; a tool not listed is allowed."""

    tools: Mapping[str, Action] = field(default_factory=dict)
    bash_rules: tuple[CommandRule, ...] = ()

    @classmethod
    def from_body(cls, raw: Mapping[str, Any]) -> PermissionPolicy:
        """From a ``permissions`` object the contract's schema already accepted."""
        tools: dict[str, Action] = {}
        rules: tuple[CommandRule, ...] = ()
        for tool, value in raw.items():
            if isinstance(value, Mapping):
                tools[tool] = value["default"]
                commands = value.get("commands", ())
                rules = tuple(CommandRule(r["pattern"], r["action"]) for r in commands)
            else:
                tools[tool] = value
        return cls(tools, rules)

    def decide(self, tool: str, args: Mapping[str, Any]) -> tuple[Action, str]:
        """The action for this call, and the scope an ``allow_always`` answer covers."""
        if tool == "bash":
            command = args.get("command")
            for n, rule in enumerate(self.bash_rules):
                if isinstance(command, str) and rule.matches(command):
                    return rule.action, f"bash#{n}"
        return self.tools.get(tool, "allow"), tool


def relevant_args(tool: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments a person needs to decide (bash: the command; file tools: the path)."""
    wanted = {"bash": ("command", "description")}.get(tool, ("filePath",))
    chosen = {k: args[k] for k in wanted if k in args}
    return chosen or dict(args)


class UnknownRequestError(Exception):
    """The session never emitted a permission request with this id."""


class NotPendingError(Exception):
    """The request was answered, expired, or its session ended."""

    def __init__(self, state: str, decision: str | None) -> None:
        super().__init__(state)
        self.state = state
        self.decision = decision


@dataclass
class Pending:
    """A request waiting for its answer."""

    call_id: str
    tool: str
    args: dict[str, Any]
    scope: str
    expires_at: str
    answer: asyncio.Future[tuple[Decision, str]]

    def view(self, request_id: str) -> dict[str, Any]:
        return {
            "request_id": request_id,
            "tool": self.tool,
            "call_id": self.call_id,
            "args": self.args,
            "expires_at": self.expires_at,
        }


Emit = Callable[[str, Mapping[str, Any]], object]


class PermissionGate:
    """One session's permission state: its policy, open requests, settled ones."""

    def __init__(self, policy: PermissionPolicy, timeout: float) -> None:
        self.policy = policy
        self.timeout = timeout
        self._ids = itertools.count(1)
        self.always: set[str] = set()
        """The scopes answered ``allow_always`` (run without asking from then on)."""
        self._pending: dict[str, Pending] = {}
        self._settled: dict[str, tuple[str, str | None]] = {}
        """request id -> (answered | expired | ended, the decision that stands)."""

    def pending(self) -> list[dict[str, Any]]:
        """The requests waiting now (the status endpoint's ``pending_permissions``)."""
        return [p.view(request_id) for request_id, p in self._pending.items()]

    async def authorize(
        self, emit: Emit, call_id: str, tool: str, args: Mapping[str, Any]
    ) -> ToolPermission:
        action, scope = self.policy.decide(tool, args)
        if action == "allow" or scope in self.always:
            return ALLOWED
        if action == "deny":
            return ToolPermission(False, POLICY_DENIED)
        return await self.ask(emit, call_id, tool, args, scope)

    def expiry(self) -> str:
        then = datetime.now(UTC) + timedelta(seconds=self.timeout)
        return then.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    async def ask(
        self, emit: Emit, call_id: str, tool: str, args: Mapping[str, Any], scope: str
    ) -> ToolPermission:
        request_id = f"perm-{next(self._ids)}"
        pending = Pending(
            call_id,
            tool,
            relevant_args(tool, args),
            scope,
            self.expiry(),
            asyncio.get_running_loop().create_future(),
        )
        self._pending[request_id] = pending
        emit("permission_request", pending.view(request_id))
        by = "client"
        try:
            async with asyncio.timeout(self.timeout):
                decision, message = await pending.answer
        except TimeoutError:
            decision, by = "deny", "timeout"
            message = (
                f"the permission request expired after {self.timeout:g} s (PERMISSION_TIMEOUT)"
            )
            self._settled[request_id] = ("expired", decision)
        except asyncio.CancelledError:
            self._settled.setdefault(request_id, ("ended", None))
            raise
        finally:
            self._pending.pop(request_id, None)
        return self.resolved(emit, request_id, pending, decision, message, by)

    def resolved(
        self,
        emit: Emit,
        request_id: str,
        pending: Pending,
        decision: Decision,
        message: str,
        by: str,
    ) -> ToolPermission:
        """Record the decision, say so in the log, and give the runtime its answer."""
        data: dict[str, Any] = {
            "request_id": request_id,
            "call_id": pending.call_id,
            "tool": pending.tool,
            "decision": decision,
            "by": by,
        }
        if decision == "deny":
            data["message"] = message or DENIED
        emit("permission_resolved", data)
        if decision == "allow_always":
            self.always.add(pending.scope)
        if decision == "deny":
            return ToolPermission(False, message or DENIED)
        return ALLOWED

    def answer(
        self, request_id: str, decision: Decision, message: str = "", via: str = "rest"
    ) -> str:
        """Answer a waiting request (``via`` rest or websocket); returns when it was
        answered. Raises :class:`UnknownRequestError` or :class:`NotPendingError`."""
        pending = self._pending.get(request_id)
        if pending is not None and not pending.answer.done():
            pending.answer.set_result((decision, message))
            self._settled[request_id] = ("answered", decision)
            return utc_now()
        if request_id in self._settled:
            state, standing = self._settled[request_id]
            raise NotPendingError(state, standing)
        raise UnknownRequestError(request_id)

    def end(self) -> None:
        """The session ended: every request still waiting is settled as ``ended``."""
        for request_id in list(self._pending):
            self._settled.setdefault(request_id, ("ended", None))
        self._pending.clear()
