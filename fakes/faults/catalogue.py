"""Faulty sidecars: the reference with one fault each, declaring the clauses it violates.

Each :class:`Fault` is a modifier over the reference server (a config override, a
middleware, a stream filter, or a runtime wrapper), named after what it breaks. The
self-test runs the suites against every fault and asserts they flag exactly
``violates`` (no more, no fewer): that is the proof that every check can fail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from fakes.faults import durability, rest, security, soak, stream, ws
from fakes.faults.kit import create_body_rewrite, on_requests, on_responses
from reference_server.app import create_app
from reference_server.config import Config
from reference_server.hooks import StreamFilter, StreamHooks, WebSocketFilter
from reference_server.runtime import Runtime
from reference_server.sessions import Session
from reference_server.storage import Storage


@dataclass(frozen=True)
class Fault:
    """One way to be wrong."""

    name: str
    violates: tuple[str, ...]
    description: str
    config: Mapping[str, Any] = field(default_factory=dict)
    middleware: Middleware | None = None
    stream: type[StreamFilter] | None = None
    ws: type[WebSocketFilter] | None = None
    hooks: type[StreamHooks] | None = None
    runtime: Callable[[Runtime], Runtime] | None = None
    patch_app: Callable[[web.Application], None] | None = None
    suite: str = "conformance"
    """The suite (``suites/<suite>``) whose clauses the fault breaks; the self-test runs it."""


def _catalogue() -> dict[str, Fault]:
    faults = [
        Fault(
            "healthz_wrong_body",
            ("PROBE-LIVE",),
            "/healthz answers {'status': 'up'}",
            middleware=on_responses(rest.healthz_up),
        ),
        Fault(
            "health_alias_missing",
            ("PROBE-HEALTH-ALIAS",),
            "/health answers 404",
            middleware=on_responses(rest.health_gone),
        ),
        Fault(
            "ready_wrong_body",
            ("PROBE-READY",),
            "/ready answers {'ready': true}",
            middleware=on_responses(rest.ready_bool),
        ),
        Fault(
            "probes_need_auth",
            ("PROBE-NO-AUTH",),
            "probes demand credentials",
            middleware=on_requests(rest.probes_need_auth),
        ),
        Fault(
            "error_body_not_json",
            ("REST-ERROR-BODY",),
            "session errors are plain text",
            middleware=on_responses(rest.error_text),
        ),
        Fault(
            "unknown_route_html",
            ("REST-UNKNOWN-ROUTE",),
            "unknown paths answer HTML",
            middleware=on_responses(rest.unknown_route_html),
        ),
        Fault(
            "wrong_method_404",
            ("REST-METHOD-NOT-ALLOWED",),
            "405 becomes 404",
            middleware=on_responses(rest.method_404),
        ),
        Fault(
            "no_request_id",
            ("REST-REQUEST-ID",),
            "X-Request-ID is never sent",
            patch_app=rest.no_request_id,
        ),
        Fault(
            "create_200",
            ("CREATE-201",),
            "POST /sessions answers 200 instead of 201",
            middleware=rest.status_rewrite("createSession", "created", 200),
        ),
        Fault(
            "no_location",
            ("CREATE-LOCATION",),
            "201 without Location",
            middleware=on_responses(rest.no_location),
        ),
        Fault(
            "invalid_is_422",
            ("CREATE-INVALID-400",),
            "schema violations answer 422",
            middleware=on_responses(rest.validation_422),
        ),
        Fault(
            "bad_json_500",
            ("CREATE-BAD-JSON-400",),
            "malformed JSON answers 500",
            middleware=on_responses(rest.bad_json_500),
        ),
        Fault(
            "media_type_ignored",
            ("CREATE-MEDIA-TYPE-415",),
            "text/plain bodies accepted",
            middleware=on_requests(rest.text_plain_is_json),
        ),
        Fault(
            "no_body_limit",
            ("CREATE-TOO-LARGE-413",),
            "any body size is read",
            config={"max_body_bytes": 64 * 1024 * 1024},
        ),
        Fault(
            "duplicate_accepted",
            ("CREATE-DUPLICATE-409",),
            "a taken id answers 201",
            middleware=on_responses(rest.duplicate_created),
        ),
        Fault(
            "limit_not_enforced",
            ("CREATE-LIMIT-503",),
            "MAX_CONCURRENT_SESSIONS ignored",
            config={"max_concurrent_sessions": 10_000},
        ),
        Fault(
            "status_progress_text",
            ("STATUS-200",),
            "status progress is a string",
            middleware=on_responses(rest.progress_text),
        ),
        Fault(
            "status_session_id_renamed",
            ("STATUS-200",),
            "status bodies name the session 'id' instead of 'session_id'",
            middleware=on_responses(rest.session_id_renamed),
        ),
        Fault(
            "status_unknown_410",
            ("STATUS-UNKNOWN-404",),
            "unknown session status is 410",
            middleware=on_responses(rest.status_unknown_410),
        ),
        Fault(
            "malformed_id_404",
            ("SESSION-ID-MALFORMED-400",),
            "malformed ids answer 404",
            middleware=on_responses(rest.malformed_id_404),
        ),
        Fault(
            "status_lags",
            ("STATUS-CONSISTENT",),
            "completed sessions report running",
            middleware=on_responses(rest.completed_says_running),
        ),
        Fault(
            "cancel_202",
            ("CANCEL-200",),
            "DELETE answers 202",
            middleware=rest.status_rewrite("cancelSession", "cancelled", 202),
        ),
        Fault(
            "cancel_unknown_200",
            ("CANCEL-UNKNOWN-404",),
            "DELETE of nothing answers 200",
            middleware=on_responses(rest.cancel_unknown_ok),
        ),
        Fault(
            "cancel_without_terminal",
            ("CANCEL-ENDS-STREAM",),
            "a cancelled stream closes without its cancelled event",
            stream=stream.DropCancelled,
        ),
        Fault(
            "cancel_twice_409",
            ("CANCEL-IDEMPOTENT",),
            "a second DELETE answers 409",
            middleware=rest.cancel_again_409(),
        ),
        Fault(
            "cancel_finished_200",
            ("CANCEL-FINISHED-409",),
            "DELETE of a finished session answers 200",
            middleware=on_responses(rest.cancel_finished_ok),
        ),
        Fault(
            "timeout_not_enforced",
            ("SESSION-TIMEOUT",),
            "SESSION_TIMEOUT ignored",
            config={"session_timeout": 3600.0},
        ),
        Fault(
            "failure_completes",
            ("RUNTIME-FAILURE-FATAL",),
            "model failures end in complete",
            runtime=rest.failures_complete,
        ),
        Fault(
            "files_unreported",
            ("WORKSPACE-CHANGES",),
            "files_modified always empty",
            runtime=rest.files_unreported,
        ),
        Fault(
            "api_key_echoed",
            ("SECRET-NEVER-ECHOED",),
            "status echoes the api_key",
            middleware=on_responses(rest.api_key_in_status),
        ),
        Fault(
            "auth_not_enforced",
            ("AUTH-REQUIRED",),
            "status needs no token",
            middleware=on_requests(rest.status_open),
        ),
        Fault(
            "metrics_json",
            ("METRICS-PROMETHEUS",),
            "/metrics answers JSON",
            middleware=on_responses(rest.metrics_json),
        ),
        Fault(
            "stream_wrong_content_type",
            ("SSE-CONTENT-TYPE",),
            "stream is text/plain",
            hooks=stream.PlainTextStream,
        ),
        Fault(
            "stream_cacheable", ("SSE-NO-CACHE",), "no Cache-Control", hooks=stream.CacheableStream
        ),
        Fault(
            "stream_buffered",
            ("SSE-NO-BUFFERING",),
            "no X-Accel-Buffering",
            hooks=stream.BufferedStream,
        ),
        Fault(
            "event_without_data",
            ("SSE-WELL-FORMED",),
            "an event field without data",
            stream=stream.EventWithoutData,
        ),
        Fault(
            "unknown_event_type",
            ("SSE-EVENT-TYPES",),
            "output events named stdout",
            stream=stream.RenameOutput,
        ),
        Fault(
            "event_without_timestamp",
            ("SSE-EVENT-SCHEMA",),
            "tool_call lacks timestamp",
            stream=stream.DropToolCallTimestamp,
        ),
        Fault("ids_missing", ("SSE-IDS-PRESENT",), "events carry no id", stream=stream.DropIds),
        Fault("ids_not_numeric", ("SSE-IDS-INCREASE",), "ids are evt-N", stream=stream.TextIds),
        Fault(
            "heartbeat_with_id",
            ("SSE-HEARTBEAT-NO-ID",),
            "heartbeats carry id 0",
            stream=stream.HeartbeatWithId,
        ),
        Fault(
            "first_event_not_status",
            ("SSE-FIRST-EVENT",),
            "the first event is an output event",
            stream=stream.FirstEventIsOutput,
        ),
        Fault(
            "no_terminal_event",
            ("SSE-ONE-TERMINAL",),
            "complete is never sent",
            stream=stream.DropComplete,
        ),
        Fault(
            "stream_stays_open",
            ("SSE-CLOSE-AFTER-TERMINAL", "CANCEL-ENDS-STREAM"),
            "the stream stays open after the terminal event",
            stream=stream.StaysOpen,
        ),
        Fault(
            "events_after_terminal",
            ("SSE-CLOSE-AFTER-TERMINAL",),
            "an output event follows the terminal event",
            stream=stream.EventsAfterTerminal,
        ),
        Fault(
            "no_replay",
            ("SSE-REPLAY",),
            "late subscribers get only the last event",
            stream=stream.NoReplay,
        ),
        Fault(
            "fanout_drops",
            ("SSE-FANOUT",),
            "a second concurrent reader misses output",
            stream=stream.FanoutDrops,
        ),
        Fault(
            "last_event_id_ignored",
            ("SSE-RESUME", "SSE-RESUME-AFTER-TERMINAL"),
            "Last-Event-ID is ignored",
            stream=stream.IgnoresLastEventId,
        ),
        Fault(
            "duplicate_on_resume",
            ("SSE-RESUME",),
            "resuming repeats the last seen event",
            stream=stream.DuplicateOnResume,
        ),
        Fault(
            "resume_after_terminal_200",
            ("SSE-RESUME-AFTER-TERMINAL",),
            "resuming after the terminal event answers an empty 200",
            hooks=stream.EmptyInsteadOf204,
        ),
        Fault(
            "malformed_last_event_id_replays",
            ("SSE-RESUME-MALFORMED",),
            "a malformed Last-Event-ID replays from the start",
            middleware=on_requests(rest.drop_bad_last_event_id),
        ),
        Fault(
            "ahead_last_event_id_accepted",
            ("SSE-RESUME-AHEAD",),
            "a Last-Event-ID beyond the log is accepted",
            middleware=on_requests(rest.clamp_last_event_id),
        ),
        Fault(
            "unknown_stream_empty",
            ("SSE-UNKNOWN-SESSION-404",),
            "an unknown session streams an empty 200",
            middleware=on_responses(rest.unknown_stream_empty),
        ),
        Fault(
            "no_heartbeat", ("SSE-HEARTBEAT",), "heartbeats never sent", stream=stream.NoHeartbeat
        ),
        Fault("no_retry_hint", ("SSE-RETRY-HINT",), "no retry field", stream=stream.NoRetryHint),
        Fault(
            "tool_result_unpaired",
            ("SSE-TOOL-PAIRING",),
            "tool_result call_id mismatched",
            stream=stream.UnpairedToolResult,
        ),
        Fault(
            "progress_regresses",
            ("SSE-PROGRESS-MONOTONIC",),
            "progress goes 99 then down",
            stream=stream.ProgressRegresses,
        ),
    ]
    faults += [
        Fault(
            "ws_no_upgrade",
            ("WS-UPGRADE",),
            "the WebSocket route never upgrades",
            middleware=ws.no_upgrade,
        ),
        Fault(
            "ws_unknown_session_upgrades",
            ("WS-UNKNOWN-SESSION-404",),
            "an unknown session's WebSocket is upgraded, then closed",
            middleware=ws.unknown_session_upgrades,
        ),
        Fault(
            "ws_frame_missing_id", ("WS-FRAME-SCHEMA",), "frames carry no id", ws=ws.FrameWithoutId
        ),
        Fault(
            "ws_ids_not_increasing",
            ("WS-IDS-INCREASE",),
            "every frame carries id 1",
            ws=ws.IdsNotIncreasing,
        ),
        Fault(
            "ws_no_terminal",
            ("WS-ONE-TERMINAL",),
            "complete is never sent over the WebSocket",
            ws=ws.NoTerminalFrame,
        ),
        Fault(
            "ws_no_close_code",
            ("WS-CLOSE-1000",),
            "the connection is dropped without a close frame",
            ws=ws.NoCloseCode,
        ),
        Fault("ws_ignores_resume", ("WS-RESUME",), "resume_after is ignored", ws=ws.IgnoresResume),
        Fault(
            "ws_no_replay",
            ("WS-REPLAY",),
            "late WebSocket subscribers get only the last event",
            ws=ws.NoReplay,
        ),
        Fault(
            "ws_missing_heartbeat",
            ("WS-HEARTBEAT",),
            "no heartbeat frames",
            ws=ws.NoHeartbeat,
        ),
        Fault(
            "ws_drops_output",
            ("WS-SAME-EVENTS-AS-SSE",),
            "output events are not sent over the WebSocket",
            ws=ws.DropsOutput,
        ),
    ]
    faults.append(
        Fault(
            "accepts_out_of_range_temperature",
            ("CREATE-INVALID-400",),
            "temperature outside 0..2 is clamped and accepted",
            middleware=create_body_rewrite(rest.clamp_temperature),
        )
    )
    faults += _security_faults()
    faults += _durability_faults()
    variations = [
        Fault("valid_crlf", (), "valid: CRLF line ends", stream=stream.CrlfLines),
        Fault(
            "valid_comment_heartbeats",
            (),
            "valid: comment heartbeats",
            stream=stream.CommentHeartbeats,
        ),
        Fault("valid_extra_fields", (), "valid: extra JSON fields", stream=stream.ExtraFields),
        Fault("valid_odd_chunks", (), "valid: 7-byte writes", stream=stream.OddChunks),
        Fault(
            "valid_ws_extra_fields",
            (),
            "valid: extra fields in WebSocket frames and data",
            ws=ws.ExtraFields,
        ),
    ]
    return {f.name: f for f in [*faults, *variations]}


def _security_faults() -> list[Fault]:
    def fault(name: str, clause: str, description: str, **how: Any) -> Fault:
        return Fault(name, (clause,), description, suite="security", **how)

    return [
        fault(
            "stream_route_unauthenticated",
            "AUTH-EVERY-ROUTE",
            "the stream needs no token",
            middleware=on_requests(security.stream_open),
        ),
        fault(
            "auth_token_case_insensitive",
            "AUTH-SCHEME",
            "the token is compared case-insensitively",
            middleware=on_requests(security.token_case_insensitive),
        ),
        fault(
            "auth_hint_in_401",
            "AUTH-NO-HINT",
            "the 401 says whether the token was missing or wrong",
            middleware=on_responses(security.hint_in_401),
        ),
        fault(
            "secret_in_error_details",
            "AUTH-SECRET-NEVER-ECHOED",
            "error bodies echo the request headers, Authorization included",
            middleware=on_responses(security.headers_in_errors),
        ),
        fault(
            "prompt_truncated_not_refused",
            "INPUT-PROMPT-LIMIT",
            "over-long prompts are cut to maxLength and accepted",
            middleware=create_body_rewrite(security.truncate_prompts),
        ),
        fault(
            "unknown_tools_dropped",
            "INPUT-TOOLS-ENUM",
            "unknown enabled_tools are dropped and the session accepted",
            middleware=create_body_rewrite(security.drop_unknown_tools),
        ),
        fault(
            "crlf_in_frame",
            "SSE-NO-INJECTION",
            "output text is written raw into the data line",
            stream=security.RawOutputText,
        ),
        fault(
            "request_id_echoed_raw",
            "REQUEST-ID-SAFE",
            "any X-Request-ID is echoed as sent",
            patch_app=security.echo_raw_request_id,
        ),
        fault(
            "tool_escapes_workspace",
            "SANDBOX-PATHS",
            "file tools join paths without resolving or confining them",
            patch_app=security.unconfined_tools,
        ),
        fault(
            "bash_leaks_env",
            "SANDBOX-BASH-ENV",
            "bash inherits the sidecar's environment and secrets",
            patch_app=security.leaky_bash,
        ),
        fault(
            "metrics_missing_family",
            "METRICS-FAMILIES",
            "/metrics lacks the heartbeats family",
            middleware=on_responses(security.drop_heartbeat_family),
        ),
        fault(
            "metrics_frozen",
            "METRICS-MOVE",
            "/metrics serves its first scrape forever",
            middleware=security.frozen_metrics(),
        ),
        Fault(
            "soak_zombie_streams",
            ("SOAK-RELEASE-ON-RESET", "SOAK-MEMORY-BASELINE"),
            "a stream whose client left abruptly stays active, with a task and 4 MiB buffer",
            middleware=soak.leak_on_disconnect(),
            suite="soak",
        ),
        Fault(
            "soak_blocking_loop",
            ("SOAK-PROBES-LIVE",),
            "a blocking call holds the event loop half of the time (probes stall)",
            patch_app=soak.blocking_loop,
            suite="soak",
        ),
        Fault(
            "soak_unbounded_buffer",
            ("SOAK-BOUNDED-BUFFER",),
            "streams are written without backpressure: a stalled reader is buffered in full",
            middleware=soak.unbounded_buffer(),
            suite="soak",
        ),
    ]


def _durability_faults() -> list[Fault]:
    everything = (
        "DURABLE-REPLAY-AFTER-RESTART",
        "DURABLE-INTERRUPTED-TERMINAL",
        "DURABLE-RESUME-ACROSS-RESTART",
        "DURABLE-ID-STAYS-TAKEN",
    )
    return [
        Fault(
            "durability_in_memory",
            everything,
            "ignores STORAGE_DIR: a restart forgets every session",
            config={"storage_dir": None},
            suite="durability",
        ),
        Fault(
            "durability_renumbered",
            ("DURABLE-REPLAY-AFTER-RESTART", "DURABLE-RESUME-ACROSS-RESTART"),
            "after a restart, recovered sessions' events carry new ids",
            stream=durability.RenumberedAfterRestart,
            suite="durability",
        ),
        Fault(
            "durability_interrupted_left_open",
            ("DURABLE-INTERRUPTED-TERMINAL",),
            "sessions running at the crash never get their terminal event",
            stream=durability.InterruptedLeftOpen,
            suite="durability",
        ),
    ]


FAULTS: Mapping[str, Fault] = _catalogue()


def create_faulty_app(fault: Fault, config: Config, runtime: Runtime) -> web.Application:
    """The reference app with ``fault`` applied."""
    config = replace(config, **dict(fault.config))
    if fault.runtime is not None:
        runtime = fault.runtime(runtime)
    filter_class = fault.stream or StreamFilter
    ws_class = fault.ws or WebSocketFilter

    class Hooks(fault.hooks or StreamHooks):  # type: ignore[misc]
        def open(self, session: Session, requested_after: int | None) -> StreamFilter:
            return filter_class(session, requested_after)

        def open_ws(self, session: Session, requested_after: int | None) -> WebSocketFilter:
            return ws_class(session, requested_after)

    app = create_app(
        config,
        runtime,
        hooks=Hooks(),
        middlewares=[fault.middleware] if fault.middleware is not None else [],
        storage=Storage.open(config.storage_dir) if config.storage_dir is not None else None,
    )
    if fault.patch_app is not None:
        fault.patch_app(app)
    return app


def describe() -> str:
    """One line per fault: name, clauses, description."""
    return "\n".join(
        f"{f.name:34} {','.join(f.violates):45} {f.description}" for f in FAULTS.values()
    )


__all__ = ["FAULTS", "Fault", "create_faulty_app", "describe"]
