"""Sessions: their state, the sink runtimes report into, and the store that limits them.

Retention (``contract/STREAM_RULES.md#retention``): a finished session stays in
:class:`SessionStore` while less than ``SESSION_RETENTION`` seconds have passed since it
finished and it is among the ``MAX_RETAINED_SESSIONS`` most recently finished; then it is
forgotten (its routes answer 404), and :meth:`SessionStore.release` frees what it held:
the durable store's rows and its workspace directory. Finished sessions are kept in finish
order, so retiring them costs O(retired), never a scan.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from contract import retention_rules, stream_rules
from reference_server import checkouts
from reference_server.event_log import Event, EventLog, LogClosedError, utc_now
from reference_server.logs import session_id_var
from reference_server.permissions import PermissionGate, PermissionPolicy
from reference_server.project import Change, CommitError, Project
from reference_server.runtime import (
    ALLOWED,
    AssistantStep,
    EarlierTurn,
    ModelConfig,
    OutputStream,
    RunResult,
    Runtime,
    RuntimeFailure,
    SessionSpec,
    ToolExchange,
    ToolPermission,
)
from reference_server.storage import Storage, StoredSession
from reference_server.telemetry import Telemetry
from reference_server.tracing import OUTCOME, SESSION_ID, SESSION_SPAN, TOOL_NAME, TOOL_SPAN, tracer

log = logging.getLogger("reference_server.sessions")

RUNNING = "running"
COMMIT_FAILED = checkouts.COMMIT_FAILED
INTERRUPTED = str(stream_rules().interrupted_data["code"])
"""The ``code`` of the fatal error ending a session the sidecar stopped (SIGTERM, crash)."""


@dataclass
class Session:
    """One session: its spec, its log and what the status endpoint shows."""

    spec: SessionSpec
    log: EventLog
    created_at: str = field(default_factory=utc_now)
    updated_at: str = field(default_factory=utc_now)
    status: str = RUNNING
    progress: int = 0
    current_tool: str | None = None
    files_modified: tuple[str, ...] = ()
    error: str | None = None
    cancelled_at: str | None = None
    cancel_reason: str | None = None
    task: asyncio.Task[None] | None = None
    recovered: bool = False
    """Loaded from the store at startup (this process did not create it)."""
    started: float = field(default_factory=time.monotonic)
    """When this process accepted it (``time.monotonic``): durations are measured from here."""
    gate: PermissionGate | None = None
    """Its permission policy and requests (``None``: created without ``permissions``)."""
    change: dict[str, Any] | None = None
    """With a project: the change summary its terminal event carries."""
    keep_checkout: bool = False
    """Its change could not be committed: retention leaves its checkout on disk."""
    checked_out: bool = False
    """With a project: its folder holds its checkout (else there is no change to take)."""

    @property
    def session_id(self) -> str:
        return self.spec.session_id

    @property
    def finished(self) -> bool:
        """The terminal event was appended (subscribers see it once committed)."""
        return self.log.ended

    def status_body(self) -> dict[str, Any]:
        """The status view of the committed log (a terminal status once the terminal event
        is visible to subscribers, not before)."""
        return {
            "session_id": self.session_id,
            "status": self.status if self.log.closed else RUNNING,
            "progress": self.progress,
            "current_tool": self.current_tool,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "files_modified": list(self.files_modified),
            "error": self.error,
            "last_event_id": self.log.last_id,
            **self._conversation_view(),
        }

    def _conversation_view(self) -> dict[str, Any]:
        """Fields only a client that used follow-ups or permissions sees."""
        view: dict[str, Any] = {}
        if self.gate is not None:
            view["pending_permissions"] = [] if self.log.closed else self.gate.pending()
        if self.spec.continued_from is not None:
            view["continued_from"] = self.spec.continued_from
        return view

    def emit(self, event: str, data: Mapping[str, Any]) -> Event | None:
        """Append to the log (stamped), keeping the status view in step; no-op once finished."""
        stamped = {**data, "timestamp": utc_now()} if event not in _UNSTAMPED else dict(data)
        try:
            record = self.log.append(event, stamped)
        except LogClosedError:
            log.debug("dropped %s after the terminal event", event)
            return None
        self.updated_at = stamped.get("timestamp", self.updated_at)
        status = stream_rules().session_status_after(event, stamped)
        if status is not None:
            self.status = status
            self.current_tool = None
            if status == "completed":
                self.progress = 100
        return record

    def replay_view(self) -> None:
        """Rebuild the status view from the log (a session loaded from the store)."""
        rules = stream_rules()
        for record in self.log.events():
            data = record.data
            self.updated_at = str(data.get("timestamp", self.updated_at))
            if record.event == "status" and isinstance(data.get("progress"), int):
                self.progress = data["progress"]
            if record.event == "complete":
                self.files_modified = tuple(data.get("files_modified", ()))
            if isinstance(data.get("change"), dict):
                self.change = data["change"]
            if record.event == "error" and rules.is_terminal(record.event, data):
                self.error = str(data.get("error"))
            if record.event == rules.cancel_event and all(
                data.get(k) == v for k, v in rules.cancel_data.items()
            ):
                self.cancelled_at = self.updated_at
            status = rules.session_status_after(record.event, data)
            if status is not None:
                self.status = status
                if status == "completed":
                    self.progress = 100


def _age(timestamp: str) -> float:
    """Seconds since an RFC 3339 timestamp of the log (0 when unreadable)."""
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max(0.0, (datetime.now(UTC) - then).total_seconds())


def spec_record(spec: SessionSpec) -> dict[str, Any]:
    """What the store keeps of a spec: everything but the model's API key."""
    record = asdict(spec)
    record["workspace"] = str(spec.workspace)
    record["model"].pop("api_key", None)
    return record


def _turn_from_record(record: Mapping[str, Any]) -> EarlierTurn:
    steps = tuple(
        AssistantStep(step["text"], tuple(ToolExchange(**tool) for tool in step["tools"]))
        for step in record["steps"]
    )
    return EarlierTurn(record["prompt"], steps)


def spec_from_record(record: Mapping[str, Any]) -> SessionSpec:
    model = dict(record["model"])
    model["enabled_tools"] = tuple(model.get("enabled_tools", ()))
    return SessionSpec(
        session_id=record["session_id"],
        prompt=record["prompt"],
        model=ModelConfig(api_key="", **model),
        workspace=Path(record["workspace"]),
        system_prompt=record.get("system_prompt"),
        history=tuple(_turn_from_record(t) for t in record.get("history", ())),
        continued_from=record.get("continued_from"),
        base_ref=record.get("base_ref"),
        base_commit=record.get("base_commit"),
    )


_UNSTAMPED = stream_rules().unnumbered_events


class SessionSink:
    """The :class:`~reference_server.runtime.EventSink` a runtime reports into; it also
    measures the session's first event, model calls and tool calls (metrics, and one span
    per tool call in the session's trace)."""

    def __init__(self, session: Session, telemetry: Telemetry) -> None:
        self._session = session
        self._telemetry = telemetry
        self._trace = otel_context.get_current()
        self._first_seen = False
        self._tools: dict[str, tuple[trace.Span, float, str]] = {}

    def _reported(self) -> None:
        if not self._first_seen:
            self._first_seen = True
            self._telemetry.first_event(time.monotonic() - self._session.started)

    def output(self, text: str, stream: OutputStream = "stdout") -> None:
        self._reported()
        self._session.emit("output", {"type": stream, "text": text})

    def tool_call(self, call_id: str, tool: str, args: Mapping[str, Any]) -> None:
        self._reported()
        self._session.current_tool = tool
        span = tracer().start_span(
            TOOL_SPAN,
            context=self._trace,
            attributes={SESSION_ID: self._session.session_id, TOOL_NAME: tool},
        )
        self._tools[call_id] = (span, time.monotonic(), tool)
        self._session.emit("tool_call", {"tool": tool, "args": dict(args), "call_id": call_id})

    def tool_result(self, call_id: str, tool: str, result: Mapping[str, Any]) -> None:
        self._session.current_tool = None
        outcome = "error" if "error" in result else "ok"
        self._end_tool(call_id, tool, outcome)
        self._session.emit(
            "tool_result", {"tool": tool, "result": dict(result), "call_id": call_id}
        )

    def _end_tool(self, call_id: str, tool: str, outcome: str) -> None:
        called = self._tools.pop(call_id, None)
        started = called[1] if called is not None else time.monotonic()
        self._telemetry.tool_call(tool, outcome, time.monotonic() - started)
        if called is not None:
            span = called[0]
            span.set_attribute(OUTCOME, outcome)
            if outcome != "ok":
                span.set_status(trace.StatusCode.ERROR)
            span.end()

    def progress(self, progress: int) -> None:
        self._reported()
        value = max(0, min(99, int(progress)))
        if value <= self._session.progress:
            return
        self._session.progress = value
        self._session.emit(
            "status",
            {"status": RUNNING, "progress": value, "current_tool": self._session.current_tool},
        )

    def warning(self, message: str) -> None:
        self._reported()
        self._session.emit("error", {"error": message, "fatal": False})

    def model_call(self, outcome: str, seconds: float) -> None:
        self._telemetry.model_call(outcome, seconds)

    def close(self) -> None:
        """The session ended: tool calls without a result end as ``unfinished``."""
        for call_id, (_, _, tool) in list(self._tools.items()):
            self._end_tool(call_id, tool, "unfinished")

    async def authorize(self, call_id: str, tool: str, args: Mapping[str, Any]) -> ToolPermission:
        gate = self._session.gate
        if gate is None:
            return ALLOWED
        return await gate.authorize(self._session.emit, call_id, tool, args)


class SessionExistsError(Exception):
    """The session id is taken."""


class SessionLimitError(Exception):
    """``MAX_CONCURRENT_SESSIONS`` sessions are running."""


class SessionStore:
    """All sessions of this sidecar; starts and stops their runtime tasks."""

    def __init__(
        self,
        runtime: Runtime,
        workspace_dir: Path,
        max_running: int,
        session_timeout: float,
        telemetry: Telemetry,
        storage: Storage | None = None,
        retention: float = retention_rules().default_seconds,
        max_retained: int = retention_rules().default_max_finished,
        clock: Callable[[], float] = time.monotonic,
        permission_timeout: float = 300.0,
        project: Project | None = None,
    ) -> None:
        self._runtime = runtime
        self.permission_timeout = permission_timeout
        self.gate_class: type[PermissionGate] = PermissionGate
        """What a session created with ``permissions`` gets (faulty sidecars swap it)."""
        self.project = project
        """``PROJECT_DIR``'s repository: each session works in a checkout of it."""
        self._retention = retention
        self._max_retained = max_retained
        self._clock = clock
        self._finished: OrderedDict[str, float] = OrderedDict()
        """Finished sessions still retained: id -> when it finished (``clock``), oldest first."""
        self.storage = storage
        self._workspace_dir = workspace_dir
        self._max_running = max_running
        self._timeout = session_timeout
        self._telemetry = telemetry
        self._sessions: dict[str, Session] = {}

    def get(self, session_id: str) -> Session | None:
        self.retire_expired()
        return self._sessions.get(session_id)

    def running(self) -> list[Session]:
        return [s for s in self._sessions.values() if not s.finished]

    # ------------------------------------------------------------------ retention
    def _finish(self, session: Session, age: float = 0.0, retire: bool = True) -> None:
        """Start the retention of a session that finished ``age`` s ago."""
        self._finished[session.session_id] = self._clock() - age
        self._finished.move_to_end(session.session_id)
        if retire:
            self.retire_expired()

    def retire_expired(self) -> int:
        """Forget the finished sessions past retention (time or count); returns how many."""
        cutoff = self._clock() - self._retention
        gone: list[str] = []
        folders: dict[str, Path | None] = {}
        # each gone session's folder; None: kept (its change was not committed)
        while self._finished:
            session_id, finished_at = next(iter(self._finished.items()))
            if finished_at > cutoff and len(self._finished) <= self._max_retained:
                break
            self._finished.popitem(last=False)
            gone_session = self._sessions.pop(session_id, None)
            gone.append(session_id)
            if gone_session is not None:
                folders[session_id] = (
                    None if gone_session.keep_checkout else gone_session.spec.workspace
                )
        if gone:
            self.release(gone, folders)
        return len(gone)

    def release(
        self, session_ids: Sequence[str], folders: Mapping[str, Path | None] | None = None
    ) -> None:
        """Free what sessions that left retention held (STREAM_RULES.md#retention): their
        rows in the durable store and their workspace directories (``folders``: each one's,
        ``None`` to keep it; default ``WORKSPACE_DIR/<session_id>``). Every resource kept for
        a finished session is let go here, and only here."""
        if self.storage is not None:
            self.storage.delete_sessions(list(session_ids))
        for session_id in session_ids:
            folder = (folders or {}).get(session_id, self.workspace_for(session_id))
            if folder is not None:
                self.remove_workspace(session_id, folder)

    def retention_tick(self) -> float:
        """How often a sweeper should call :meth:`retire_expired` (seconds)."""
        return max(0.05, min(1.0, retention_rules().sweep_tolerance_seconds / 2))

    def workspace_for(self, session_id: str) -> Path:
        return self._workspace_dir / session_id

    def create(self, spec: SessionSpec, permissions: PermissionPolicy | None = None) -> Session:
        """Register and start a session (raises if the id is taken or the limit reached);
        ``permissions``: its policy (POST /sessions ``permissions``), ``None`` when absent."""
        if spec.session_id in self._sessions:
            raise SessionExistsError(spec.session_id)
        if len(self.running()) >= self._max_running:
            raise SessionLimitError(self._max_running)
        spec.workspace.mkdir(parents=True, exist_ok=True)
        committer = None
        if self.storage is not None:
            committer = self.storage.committer(spec.session_id)
        session = Session(spec=spec, log=EventLog(self._telemetry.event_emitted, committer))
        if permissions is not None:
            session.gate = self.gate_class(permissions, self.permission_timeout)
        if self.storage is not None:
            self.storage.add_session(spec.session_id, session.created_at, spec_record(spec))
        self._sessions[spec.session_id] = session
        session.emit("status", {"status": RUNNING, "progress": 0, "current_tool": None})
        session.task = asyncio.create_task(self._run(session), name=f"session-{spec.session_id}")
        self._telemetry.session_started()
        return session

    def restore(self, stored: Sequence[StoredSession]) -> list[Session]:
        """Load the store's sessions (startup); a session that was running when the
        sidecar died ends now with a fatal ``interrupted`` error. Returns those."""
        assert self.storage is not None
        interrupted = []
        for item in stored:
            history = EventLog(
                self._telemetry.event_emitted,
                self.storage.committer(item.session_id),
                history=item.events,
            )
            session = Session(
                spec=spec_from_record(item.spec),
                log=history,
                created_at=item.created_at,
                recovered=True,
            )
            session.replay_view()
            self._sessions[session.session_id] = session
            if session.finished:
                self._finish(session, _age(session.updated_at), retire=False)
            else:
                if not item.events:  # created, then killed before its first event committed
                    session.emit("status", {"status": RUNNING, "progress": 0, "current_tool": None})
                message = "the sidecar stopped while the session ran"
                # its change was never taken: its checkout outlives retention (nothing lost)
                session.keep_checkout = session.spec.base_commit is not None
                self._fail(session, message, INTERRUPTED)
                self._finish(session, retire=False)
                interrupted.append(session)
        # the store lists sessions by creation: retention needs them in finish order
        self._finished = OrderedDict(sorted(self._finished.items(), key=lambda item: item[1]))
        self.retire_expired()
        if stored:
            log.info(
                "sessions restored",
                extra={"sessions": len(stored), "interrupted": len(interrupted)},
            )
        return interrupted

    async def _run(self, session: Session) -> None:
        """Run the session in its own span, a child of the request that created it."""
        session_id_var.set(session.session_id)
        with tracer().start_as_current_span(
            SESSION_SPAN, attributes={SESSION_ID: session.session_id}
        ) as span:
            try:
                await self._run_traced(session)
            finally:
                span.set_attribute(OUTCOME, session.status)
                if session.error is not None:
                    span.set_status(trace.StatusCode.ERROR, session.error)

    async def _run_traced(self, session: Session) -> None:
        log.info("session started", extra={"runtime": self._runtime.name})
        sink = SessionSink(session, self._telemetry)
        deadline = asyncio.timeout(self._timeout)
        try:
            async with deadline:
                await self._check_out(session)
                result: RunResult = await self._runtime.run(session.spec, sink)
        except TimeoutError:
            if deadline.expired():
                message = f"session exceeded SESSION_TIMEOUT ({self._timeout:g} s)"
                await self._fail_taken(session, message, str(stream_rules().timeout_data["code"]))
            else:
                log.exception("runtime timed out", extra={"session_id": session.session_id})
                await self._fail_taken(session, "the runtime timed out", "runtime_error")
        except RuntimeFailure as failure:
            await self._fail_taken(session, failure.message, failure.code)
        except asyncio.CancelledError:
            if session.finished:
                raise
            if session.cancelled_at is not None:  # DELETE, with a project: its change first
                await self._emit_cancelled(session, await self._take_change(session, "cancelled"))
            else:  # shutdown rather than DELETE
                await self._fail_taken(
                    session, "the sidecar shut down while the session ran", INTERRUPTED
                )
            raise
        except Exception:
            log.exception("runtime crashed", extra={"session_id": session.session_id})
            await self._fail_taken(session, "the runtime failed unexpectedly", "runtime_error")
        else:
            taken = await self._take_change(session, "completed")
            if isinstance(taken, CommitError):
                self._fail(session, checkouts.commit_failed(taken), COMMIT_FAILED)
            else:
                files = tuple(result.files_modified) if taken is None else taken.paths
                session.files_modified = files
                data: dict[str, Any] = {
                    "final_message": result.final_message,
                    "files_modified": list(files),
                }
                if taken is not None:
                    session.change = data["change"] = taken.summary()
                session.emit("complete", data)
        finally:
            sink.close()
            if session.gate is not None:
                session.gate.end()
            self._finish(session)
            self._telemetry.session_finished(session.status, time.monotonic() - session.started)
            log.info(
                "session ended", extra={"status": session.status, "events": session.log.last_id}
            )

    def _fail(
        self, session: Session, message: str, code: str, change: Change | None = None
    ) -> None:
        session.error = message
        data: dict[str, Any] = {"error": message, "fatal": True, "code": code}
        if change is not None:
            session.change = data["change"] = change.summary()
        session.emit("error", data)
        self._telemetry.runtime_error(code)

    # ------------------------------------------------------------------ the project
    async def _check_out(self, session: Session) -> None:
        """With a project: fill the session's folder with its base's files."""
        if self.project is not None and session.spec.base_commit is not None:
            await checkouts.check_out(self.project, session.spec)
            session.checked_out = True

    async def _take_change(self, session: Session, outcome: str) -> Change | CommitError | None:
        """With a project: commit the session's checkout to its branch (``None`` without
        one). A refused commit keeps the checkout past retention (nothing is lost)."""
        if self.project is None or not session.checked_out:
            return None
        taken = await checkouts.take_change(self.project, session.spec, outcome)
        session.keep_checkout = isinstance(taken, CommitError)
        return taken

    async def _fail_taken(self, session: Session, message: str, code: str) -> None:
        """End with a fatal error carrying the change (or ``commit_failed``, saying why)."""
        if session.finished:
            return
        taken = await self._take_change(session, "failed")
        if isinstance(taken, CommitError):
            self._fail(session, f"{message}; {checkouts.commit_failed(taken)}", COMMIT_FAILED)
        else:
            self._fail(session, message, code, taken)

    async def _emit_cancelled(self, session: Session, taken: Change | CommitError | None) -> None:
        if session.finished:
            return
        if isinstance(taken, CommitError):
            session.emit("error", {"error": checkouts.commit_failed(taken), "fatal": False})
            taken = None
        data = {
            **stream_rules().cancel_data,
            "progress": session.progress,
            "reason": session.cancel_reason or "cancelled",
        }
        if taken is not None:
            session.change = data["change"] = taken.summary()
        session.emit(stream_rules().cancel_event, data)
        if session.gate is not None:  # an answer from now on finds the session ended
            session.gate.end()

    async def change_so_far(self, session: Session) -> tuple[str, str] | None:
        """(base commit, unified diff) of a session's change; ``None`` without a project."""
        if self.project is None or session.spec.base_commit is None:
            return None
        diff = await checkouts.diff_of(self.project, session.spec, session.change, session.finished)
        return session.spec.base_commit, diff

    async def cancel(self, session: Session, reason: str, grace: float = 5.0) -> None:
        """End a running session with the cancelled status event, and stop its runtime.
        With a project the runtime stops first, so that the event carries the change of a
        checkout no tool writes to any more (the session's task emits it)."""
        if session.finished or session.cancelled_at is not None:
            return
        session.cancelled_at = utc_now()
        session.cancel_reason = reason
        if self.project is None:
            await self._emit_cancelled(session, None)
        await self._stop_task(session, grace)
        await self._emit_cancelled(session, None)  # a runtime that ignored cancellation
        await self._flushed([session], grace)

    async def interrupt_all(self, grace: float) -> None:
        """Shutdown: end every running session with a fatal ``interrupted`` error (with a
        project, after its runtime stopped and its change was committed)."""
        running = self.running()
        message = "the sidecar shut down while the session ran"
        if self.project is None:
            for session in running:
                self._fail(session, message, INTERRUPTED)
        await asyncio.gather(*(self._stop_task(s, grace) for s in running))
        for session in running:
            if not session.finished:
                self._fail(session, message, INTERRUPTED)
        await self._flushed(running, grace)

    async def _flushed(self, sessions: Sequence[Session], timeout: float) -> None:
        """Wait (at most ``timeout`` s) until the sessions' events are committed."""
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(s.log.flushed() for s in sessions))
        except TimeoutError:
            log.warning("events not committed in time", extra={"sessions": len(sessions)})

    async def committed(self, session: Session, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until the session's events are committed."""
        await self._flushed([session], timeout)

    async def _stop_task(self, session: Session, grace: float) -> None:
        task = session.task
        if task is None or task.done():
            return
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            log.warning("runtime ignored cancellation", extra={"session_id": session.session_id})

    def remove_workspace(self, session_id: str, workspace: Path | None = None) -> None:
        """The one clean-up of a session's folder when it leaves retention: with a project
        its checkout and index (its branch stays), synchronously; else its directory, in a
        worker thread while the event loop runs (a large workspace never blocks it). A folder
        that a retained session of the same conversation still works in stays."""
        folder = workspace if workspace is not None else self.workspace_for(session_id)
        if any(s.spec.workspace == folder for s in self._sessions.values()):
            return
        if self.project is not None:
            self.project.remove_checkout(session_id, folder)
            return
        remove = functools.partial(shutil.rmtree, folder, True)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            remove()
            return
        loop.run_in_executor(None, remove)
