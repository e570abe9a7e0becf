"""Conversation faults: follow-ups and permission requests done wrong (the ``FOLLOWUP-*``
and ``PERMISSION-*`` clauses of the ``conversation`` suite). Each is the reference with one
thing off: a runtime wrapper that rewrites a follow-up's spec, a :class:`FollowUps` that
lets the wrong follow-ups through, or a :class:`PermissionGate` that misbehaves once;
``conversations_unsupported`` is an older sidecar that knows neither feature."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

from fakes.faults.fault import Fault
from fakes.faults.kit import DelegatingRuntime, create_body_rewrite
from reference_server.conversation import ConversationNotFoundError, FollowUps
from reference_server.event_log import utc_now
from reference_server.keys import follow_ups_key, store_key
from reference_server.permissions import (
    Decision,
    Emit,
    NotPendingError,
    Pending,
    PermissionGate,
)
from reference_server.runtime import (
    ALLOWED,
    EventSink,
    RunResult,
    Runtime,
    SessionSpec,
    ToolPermission,
)
from reference_server.sessions import Session


# ------------------------------------------------------------------ follow-ups
@dataclass
class FollowUpRewrite(DelegatingRuntime):
    """Runs a follow-up with its spec rewritten (a session without ``continue_from`` as is)."""

    how: str
    keys: dict[str, str] = field(default_factory=dict)

    async def run(self, spec: SessionSpec, sink: EventSink) -> RunResult:
        self.keys[spec.session_id] = spec.model.api_key
        if spec.continued_from is not None:
            spec = self.rewrite(spec, spec.continued_from)
        return await self.inner.run(spec, sink)

    def rewrite(self, spec: SessionSpec, earlier: str) -> SessionSpec:
        if self.how == "history":  # the follow-up starts a conversation afresh
            return replace(spec, history=())
        if self.how == "workspace":  # ... or works in a directory of its own
            fresh = spec.workspace.parent / f"{spec.session_id}-own"
            fresh.mkdir(parents=True, exist_ok=True)
            return replace(spec, workspace=fresh)
        key = self.keys.get(earlier, spec.model.api_key)  # ... or with the first turn's key
        return replace(spec, model=replace(spec.model, api_key=key))


def history_dropped(inner: Runtime) -> Runtime:
    return FollowUpRewrite(inner, "history")


def workspace_not_carried(inner: Runtime) -> Runtime:
    return FollowUpRewrite(inner, "workspace")


def first_turn_key(inner: Runtime) -> Runtime:
    return FollowUpRewrite(inner, "key")


class RunningContinued(FollowUps):
    """Continues a session that still runs."""

    def earlier(
        self, sessions: Iterable[Session], found: Session | None, wanted: str
    ) -> Session | None:
        if found is None:
            raise ConversationNotFoundError(wanted)
        return found


class UnknownStartsAfresh(FollowUps):
    """A follow-up of a session it does not know starts a new conversation."""

    def earlier(
        self, sessions: Iterable[Session], found: Session | None, wanted: str
    ) -> Session | None:
        return None if found is None else super().earlier(sessions, found, wanted)


def running_continued(app: web.Application) -> None:
    app[follow_ups_key] = RunningContinued()


def unknown_starts_afresh(app: web.Application) -> None:
    app[follow_ups_key] = UnknownStartsAfresh()


# ------------------------------------------------------------------ permissions
class StatusSilentGate(PermissionGate):
    """Waits, but the status never shows what it waits for."""

    def pending(self) -> list[dict[str, Any]]:
        return []


class DenyRunsGate(PermissionGate):
    """Says deny, then runs the tool anyway."""

    def resolved(
        self,
        emit: Emit,
        request_id: str,
        pending: Pending,
        decision: Decision,
        message: str,
        by: str,
    ) -> ToolPermission:
        super().resolved(emit, request_id, pending, decision, message, by)
        return ALLOWED if by == "client" else ToolPermission(False, message)


class ForgetfulGate(PermissionGate):
    """Takes allow_always as allow_once."""

    def resolved(
        self,
        emit: Emit,
        request_id: str,
        pending: Pending,
        decision: Decision,
        message: str,
        by: str,
    ) -> ToolPermission:
        answer = super().resolved(emit, request_id, pending, decision, message, by)
        self.always.discard(pending.scope)
        return answer


class SilentExpiryGate(PermissionGate):
    """Denies an expired request without the event that says so."""

    def resolved(
        self,
        emit: Emit,
        request_id: str,
        pending: Pending,
        decision: Decision,
        message: str,
        by: str,
    ) -> ToolPermission:
        quiet: Emit = (lambda event, data: None) if by == "timeout" else emit
        return super().resolved(quiet, request_id, pending, decision, message, by)


class AllowAsksGate(PermissionGate):
    """Asks for tools the policy explicitly allows too."""

    async def authorize(
        self, emit: Emit, call_id: str, tool: str, args: Mapping[str, Any]
    ) -> ToolPermission:
        action, scope = self.policy.decide(tool, args)
        listed = tool in self.policy.tools or scope.startswith("bash#")
        if action == "allow" and listed and scope not in self.always:
            return await self.ask(emit, call_id, tool, args, scope)
        return await super().authorize(emit, call_id, tool, args)


class TwiceGate(PermissionGate):
    """Takes a second answer to a request (200), though the first one stands."""

    def answer(
        self, request_id: str, decision: Decision, message: str = "", via: str = "rest"
    ) -> str:
        try:
            return super().answer(request_id, decision, message, via)
        except NotPendingError:
            return utc_now()


class RestOnlyGate(PermissionGate):
    """Takes answers over REST only: a WebSocket permission_reply finds no request."""

    def answer(
        self, request_id: str, decision: Decision, message: str = "", via: str = "rest"
    ) -> str:
        if via == "websocket":
            return super().answer(f"{request_id}-not-here", decision, message, via)
        return super().answer(request_id, decision, message, via)


def gates(gate: type[PermissionGate]) -> Any:
    def patch(app: web.Application) -> None:
        app[store_key].gate_class = gate

    return patch


# ------------------------------------------------------------------ an older sidecar
def _strip_conversation_fields(body: dict[str, Any]) -> None:
    """Knows neither field: drops them, as a sidecar built before them ignores them."""
    body.pop("continue_from", None)
    body.pop("permissions", None)


FAULTS = [
    Fault(
        "followup_history_dropped",
        "a follow-up's model requests carry none of the earlier turns",
        catches={"conversation": ("FOLLOWUP-HISTORY",)},
        evidence={"FOLLOWUP-HISTORY": "missing or out of order"},
        runtime=history_dropped,
    ),
    Fault(
        "followup_workspace_fresh",
        "a follow-up works in a new empty directory",
        catches={"conversation": ("FOLLOWUP-WORKSPACE",)},
        evidence={"FOLLOWUP-WORKSPACE": "carry.txt"},
        runtime=workspace_not_carried,
    ),
    Fault(
        "followup_first_key",
        "a follow-up calls the model with the first turn's api_key",
        catches={"conversation": ("FOLLOWUP-OWN-KEY",)},
        evidence={"FOLLOWUP-OWN-KEY": "turn1"},
        runtime=first_turn_key,
    ),
    Fault(
        "followup_running_accepted",
        "a follow-up of a session that still runs is created",
        catches={"conversation": ("FOLLOWUP-RUNNING-409",)},
        evidence={"FOLLOWUP-RUNNING-409": "conversation_running"},
        patch_app=running_continued,
    ),
    Fault(
        "followup_unknown_fresh",
        "a follow-up of an unknown session starts a new conversation (201)",
        catches={"conversation": ("FOLLOWUP-UNKNOWN-404",)},
        evidence={"FOLLOWUP-UNKNOWN-404": "continued_not_found"},
        patch_app=unknown_starts_afresh,
    ),
    Fault(
        "permission_status_silent",
        "a waiting session's status does not list its permission request",
        catches={"conversation": ("PERMISSION-ASK",)},
        evidence={"PERMISSION-ASK": "pending_permissions"},
        patch_app=gates(StatusSilentGate),
    ),
    Fault(
        "permission_deny_runs",
        "a call the backend denies runs anyway",
        catches={"conversation": ("PERMISSION-DENY",)},
        evidence={"PERMISSION-DENY": "error result"},
        patch_app=gates(DenyRunsGate),
    ),
    Fault(
        "permission_always_forgotten",
        "allow_always is taken as allow_once (the next call asks again)",
        catches={"conversation": ("PERMISSION-ALLOW-ALWAYS",)},
        evidence={"PERMISSION-ALLOW-ALWAYS": "not asked"},
        patch_app=gates(ForgetfulGate),
    ),
    Fault(
        "permission_expiry_silent",
        "an expired request is denied without the event that says so",
        catches={"conversation": ("PERMISSION-TIMEOUT",)},
        evidence={"PERMISSION-TIMEOUT": "by timeout"},
        patch_app=gates(SilentExpiryGate),
    ),
    Fault(
        "permission_allow_asks",
        "tools the policy allows are asked for too",
        catches={"conversation": ("PERMISSION-ALLOW-SILENT",)},
        evidence={"PERMISSION-ALLOW-SILENT": "no permission event"},
        patch_app=gates(AllowAsksGate),
    ),
    Fault(
        "permission_answered_twice",
        "a second answer to a request is taken (200)",
        catches={"conversation": ("PERMISSION-ANSWER-ONCE",)},
        evidence={"PERMISSION-ANSWER-ONCE": "second answer"},
        patch_app=gates(TwiceGate),
    ),
    Fault(
        "permission_ws_ignored",
        "a permission_reply on the WebSocket finds no request (REST answers only)",
        catches={"conversation": ("PERMISSION-WS-ANSWER",)},
        evidence={"PERMISSION-WS-ANSWER": "permission_reply"},
        patch_app=gates(RestOnlyGate),
    ),
    Fault(
        "conversations_unsupported",
        "an older sidecar: ignores continue_from and permissions (claims neither profile)",
        catches={"conformance": ()},
        middleware=create_body_rewrite(_strip_conversation_fields),
    ),
]
