"""All state on the app, under typed keys (no singletons)."""

from __future__ import annotations

from aiohttp import web

from reference_server.config import Config
from reference_server.conversation import FollowUps
from reference_server.hooks import StreamHooks
from reference_server.open_streams import OpenStreams
from reference_server.runtime import Runtime
from reference_server.sessions import SessionStore
from reference_server.telemetry import Telemetry


class Lifecycle:
    """Whether the app is draining (SIGTERM received)."""

    def __init__(self) -> None:
        self.draining = False


config_key = web.AppKey("config", Config)
runtime_key = web.AppKey("runtime", Runtime)
store_key = web.AppKey("store", SessionStore)
telemetry_key = web.AppKey("telemetry", Telemetry)
hooks_key = web.AppKey("stream_hooks", StreamHooks)
lifecycle_key = web.AppKey("lifecycle", Lifecycle)
streams_key = web.AppKey("streams", OpenStreams)
follow_ups_key = web.AppKey("follow_ups", FollowUps)
