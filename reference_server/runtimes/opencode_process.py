"""One ``opencode serve`` child (shared by every session): started, watched, stopped.

The child binds 127.0.0.1 on a port it picks (read from its first stdout line), is
protected with a random ``OPENCODE_SERVER_PASSWORD``, and keeps its HOME, XDG dirs and
configuration in ``state_dir`` so it never reads the user's. Its environment is built
from scratch: the sidecar's own secrets never reach it (or the tools it runs).

One subscription to ``GET /global/event`` serves the child's sessions: events are routed
to the :class:`SessionChannel` of their ``sessionID`` (``file.edited`` by directory). If
the child dies (or is declared wedged, :meth:`OpenCodeProcess.fail`), every channel gets
:class:`ProcessExited` (the session fails); restarting is
:class:`~reference_server.runtimes.opencode_supervisor.OpenCodeSupervisor`'s job.

OpenCode installs ``@opencode-ai/plugin`` with npm into each config directory that has no
``node_modules`` (in the background, and waits for it before loading custom tools: 15 s
here, forever without a registry). The config directory written here has an empty
``node_modules`` and a lock file naming that package, which its check takes as installed:
our custom tools import nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

log = logging.getLogger("reference_server.runtimes.opencode")

INSTALL_HINT = "install it with `opencode-sidecar install-opencode` (npm) or set OPENCODE_BIN"
PROJECT_BINARY = Path(".opencode") / "node_modules" / ".bin" / "opencode"
LISTENING = re.compile(r"listening on (http://\S+)")
ENV_PASSED = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS")
QUIET = {
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_PROJECT_CONFIG": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
    "OPENCODE_DISABLE_CLAUDE_CODE": "1",
    "OPENCODE_DISABLE_EXTERNAL_SKILLS": "1",
    "OPENCODE_EXPERIMENTAL_DISABLE_FILEWATCHER": "1",
    "OPENCODE_PURE": "1",
}
"""What OpenCode must not do on its own: update, download, read a workspace's own config
(``opencode.json``, ``.opencode/tools``, ``AGENTS.md``: a session could write those, and
OpenCode would load them into the process every session shares), fetch models.dev, load
plugins, watch each directory."""
EVENT_SILENCE = 30.0
"""Seconds without a byte on ``/global/event`` (heartbeats every 10 s) after which it is
read again."""
PLUGIN_LOCK = {"packages": {"": {"dependencies": {"@opencode-ai/plugin": "*"}}}}


class OpenCodeMissing(RuntimeError):
    """No ``opencode`` binary was found; the message names the install command."""


def find_binary(explicit: str | None, search_from: Path) -> Path:
    """``explicit`` (OPENCODE_BIN), else ``.opencode/`` here or above, else PATH."""
    if explicit:
        path = Path(explicit)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise OpenCodeMissing(f"OPENCODE_BIN={explicit} is not an executable file; {INSTALL_HINT}")
    for folder in (search_from, *search_from.parents, Path(__file__).resolve().parents[2]):
        candidate = folder / PROJECT_BINARY
        if candidate.is_file():
            return candidate
    found = shutil.which("opencode")
    if found:
        return Path(found)
    raise OpenCodeMissing(f"the `opencode` binary was not found; {INSTALL_HINT}")


class ProcessExited:
    """Put into every channel when the child dies: its sessions cannot go on."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


@dataclass
class SessionChannel:
    """The events of one OpenCode session, in order."""

    session_id: str
    directory: str
    queue: asyncio.Queue[tuple[str, dict[str, Any]] | ProcessExited]


class OpenCodeProcess:
    """The child process, its HTTP API, and the event router."""

    def __init__(
        self,
        binary: Path,
        state_dir: Path,
        config: Mapping[str, Any],
        startup_timeout: float = 60.0,
        environ: Mapping[str, str] | None = None,
        settings_env: Mapping[str, str] | None = None,
        launch: Callable[[list[str]], list[str]] | None = None,
        config_files: Mapping[str, str] | None = None,
    ) -> None:
        self.binary = binary
        self.state_dir = state_dir
        self.config = dict(config)
        self.startup_timeout = startup_timeout
        self._launch = launch or list
        """Turns the command line into the one run (the sandbox launcher confines it)."""
        self._environ = dict(environ or {})
        """The server's environment, handed in by the composition root (``ENV_PASSED`` of it
        reaches OpenCode)."""
        self._settings_env = dict(settings_env or {})
        """OpenCode settings passed as its environment (e.g. the bash timeout)."""
        self._password = secrets.token_urlsafe(24)
        self._proc: asyncio.subprocess.Process | None = None
        self._http: aiohttp.ClientSession | None = None
        self._base = ""
        self._channels: dict[str, SessionChannel] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._subscribed = asyncio.Event()
        self._state = "not started"
        self._config_files = dict(config_files or {})
        """Files written beside the configuration (``tools/<name>.js``)."""
        self._failure: str | None = None
        self.exited = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    def not_ready_reason(self) -> str | None:
        if self._failure is not None:
            return self._failure
        if self._proc is not None and self._proc.returncode is not None:
            # dead, and not yet noticed by the watcher: say so, never "running"
            return f"opencode exited with code {self._proc.returncode}"
        if self._proc is None:
            return f"opencode is {self._state}"
        if not self._subscribed.is_set():
            return "opencode event stream is not connected"
        return None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(
            auth=aiohttp.BasicAuth("opencode", self._password),
            timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=None),
        )
        await self._spawn()
        self._tasks.append(asyncio.create_task(self._watch(), name="opencode-watchdog"))
        self._tasks.append(asyncio.create_task(self._subscribe(), name="opencode-events"))
        await asyncio.wait_for(self._subscribed.wait(), self.startup_timeout)

    async def close(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._terminate()
        if self._http is not None:
            await self._http.close()

    def _env(self) -> dict[str, str]:
        home = self.state_dir / "home"
        env = {k: v for k, v in self._environ.items() if k in ENV_PASSED}
        env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_DATA_HOME=str(home / ".local" / "share"),
            XDG_CACHE_HOME=str(home / ".cache"),
            XDG_STATE_HOME=str(home / ".local" / "state"),
            TMPDIR=str(self.state_dir / "tmp"),
            OPENCODE_SERVER_PASSWORD=self._password,
            **QUIET,
        )
        env.update(self._settings_env)
        return env

    def _write_config(self) -> None:
        folder = self.state_dir / "home" / ".config" / "opencode"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "opencode.json"
        path.write_text(json.dumps(self.config, indent=2))
        path.chmod(0o600)
        for relative, text in self._config_files.items():
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            target.chmod(0o600)
        (folder / "node_modules").mkdir(exist_ok=True)
        (folder / "package-lock.json").write_text(json.dumps(PLUGIN_LOCK))

    async def _spawn(self) -> None:
        self._state = "starting"
        self._write_config()
        run_dir = self.state_dir / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "tmp").mkdir(exist_ok=True)
        argv = [str(self.binary), "serve", "--hostname", "127.0.0.1", "--port", "0"]
        self._proc = await asyncio.create_subprocess_exec(
            *self._launch(argv),
            cwd=run_dir,
            env=self._env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert self._proc.stdout is not None
        assert self._proc.stderr is not None
        try:
            self._base = await asyncio.wait_for(
                self._read_url(self._proc.stdout), self.startup_timeout
            )
        except (TimeoutError, EOFError) as exc:
            await self._terminate()
            self._state = "failed to start"
            said = ""
            with contextlib.suppress(TimeoutError, OSError):
                raw = await asyncio.wait_for(self._proc.stderr.read(4000), 2)
                said = raw.decode(errors="replace").strip()
            last = said.splitlines()[-1] if said else "nothing on stderr"
            what = "exited" if isinstance(exc, EOFError) else "printed no URL"
            raise RuntimeError(
                f"opencode serve {what} within {self.startup_timeout:g} s"
                f" (exit code {self._proc.returncode}): {last}"
            ) from exc
        self._tasks.append(asyncio.create_task(_drain(self._proc.stdout, "stdout")))
        self._tasks.append(asyncio.create_task(_drain(self._proc.stderr, "stderr")))
        self._state = "running"
        log.info("opencode started", extra={"url": self._base, "pid": self._proc.pid})

    @staticmethod
    async def _read_url(stream: asyncio.StreamReader) -> str:
        while True:
            line = await stream.readline()
            if not line:
                raise EOFError("opencode serve exited before listening")
            match = LISTENING.search(line.decode(errors="replace"))
            if match:
                return match.group(1).rstrip("/")

    async def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        _signal_group(proc, signal.SIGTERM)  # the child and the commands it started
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            _signal_group(proc, signal.SIGKILL)
            await proc.wait()
        _signal_group(proc, signal.SIGKILL)  # what outlived it in its group

    async def _watch(self) -> None:
        """When the child dies, its sessions cannot go on: tell every channel."""
        assert self._proc is not None
        code = await self._proc.wait()
        self.exited.set()
        if self._stopping:
            return
        self._subscribed.clear()
        log.warning("opencode exited", extra={"returncode": code})
        self.fail(f"opencode exited with code {code}")

    def fail(self, reason: str) -> None:
        """The child cannot serve its sessions any more (it died, or stopped answering):
        each running session ends with ``reason``, once; the child is killed."""
        if self._failure is not None:
            return
        self._failure = reason
        self._state = reason.removeprefix("opencode ")
        self._subscribed.clear()
        for channel in list(self._channels.values()):
            channel.queue.put_nowait(ProcessExited(reason))
        if self._proc is not None and self._proc.returncode is None:
            _signal_group(self._proc, signal.SIGKILL)  # SIGKILL reaches a stopped process too

    @property
    def failure(self) -> str | None:
        return self._failure

    async def answers(self, timeout: float) -> bool:
        """Whether the child answers its health endpoint within ``timeout`` seconds."""
        if self._http is None or self._failure is not None:
            return False
        try:
            async with self._http.get(
                f"{self._base}/global/health", timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                return response.status < 500
        except (TimeoutError, aiohttp.ClientError, OSError):
            return False

    async def _subscribe(self) -> None:
        """Follow ``/global/event`` for as long as the runtime lives; reconnect on drops.

        OpenCode sends a heartbeat every 10 s, so a stream silent for
        :data:`EVENT_SILENCE` seconds is dead and is read again. Events sent while it was
        down are lost: the sessions running then cannot be followed to their end, so each
        ends with :class:`ProcessExited` naming the break (never a silent hang)."""
        assert self._http is not None
        silence = aiohttp.ClientTimeout(total=None, connect=10, sock_read=EVENT_SILENCE)
        while not self._stopping:
            try:
                async with self._http.get(f"{self._base}/global/event", timeout=silence) as r:
                    r.raise_for_status()
                    self._subscribed.set()
                    async for raw in r.content:
                        line = raw.decode(errors="replace").rstrip("\r\n")
                        if line.startswith("data:"):
                            self._route(line[5:].strip())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any break: reconnect, never die
                log.warning("opencode event stream broke", extra={"error": repr(exc)})
            if self._subscribed.is_set() and not await self._died_within(1.0):
                for channel in list(self._channels.values()):
                    channel.queue.put_nowait(ProcessExited("opencode's event stream broke off"))
            self._subscribed.clear()
            await asyncio.sleep(0.2)

    async def _died_within(self, seconds: float) -> bool:
        """Whether the child died (or failed): a stream that broke with it is no news,
        :meth:`fail` names the cause to the sessions."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.exited.wait(), seconds)
        return self.exited.is_set() or self._failure is not None

    def _route(self, data: str) -> None:
        try:
            envelope = json.loads(data)
        except ValueError:
            return
        if not isinstance(envelope, dict) or not isinstance(envelope.get("payload"), dict):
            return
        payload = envelope["payload"]
        kind, props = payload.get("type"), payload.get("properties") or {}
        if not isinstance(kind, str) or not isinstance(props, dict):
            return
        session_id = props.get("sessionID")
        if isinstance(session_id, str):
            channel = self._channels.get(session_id)
            if channel is not None:
                channel.queue.put_nowait((kind, props))
        elif kind == "file.edited":
            for channel in self._channels.values():
                if channel.directory == envelope.get("directory"):
                    channel.queue.put_nowait((kind, props))

    # ------------------------------------------------------------------ sessions
    async def _call(
        self, method: str, path: str, directory: Path, body: object | None = None
    ) -> Any:
        proc = self._proc
        if self._http is None or self._failure or proc is None or proc.returncode is not None:
            raise RuntimeError(self._failure or f"opencode is {self._state}")
        async with self._http.request(
            method,
            f"{self._base}{path}",
            params={"directory": str(directory)},
            json=body,
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response:
            if response.status >= 400:
                text = (await response.text())[:300]
                raise RuntimeError(f"opencode {method} {path} answered {response.status}: {text}")
            if response.status == 204:
                return None
            return await response.json(content_type=None)

    async def create_session(self, directory: Path, title: str) -> SessionChannel:
        """A new OpenCode session working in ``directory``, already routed to a channel."""
        info = await self._call("POST", "/session", directory, {"title": title})
        channel = SessionChannel(str(info["id"]), str(directory), asyncio.Queue())
        self._channels[channel.session_id] = channel
        return channel

    def forget(self, channel: SessionChannel) -> None:
        self._channels.pop(channel.session_id, None)

    async def prompt(self, channel: SessionChannel, body: Mapping[str, Any]) -> None:
        path = f"/session/{channel.session_id}/prompt_async"
        await self._call("POST", path, Path(channel.directory), dict(body))

    async def abort(self, channel: SessionChannel) -> None:
        path = f"/session/{channel.session_id}/abort"
        await self._call("POST", path, Path(channel.directory))

    async def delete(self, channel: SessionChannel) -> None:
        """Forget the OpenCode session (its messages leave OpenCode's memory and database)."""
        await self._call("DELETE", f"/session/{channel.session_id}", Path(channel.directory))

    async def dispose(self, directory: Path) -> None:
        """Dispose OpenCode's instance for ``directory`` (its per-directory state)."""
        await self._call("POST", "/instance/dispose", directory)

    async def tool_ids(self, directory: Path) -> list[str]:
        ids = await self._call("GET", "/experimental/tool/ids", directory)
        return [str(i) for i in ids] if isinstance(ids, list) else []


def _signal_group(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


async def _drain(stream: asyncio.StreamReader, name: str) -> None:
    while line := await stream.readline():
        log.debug("opencode %s: %s", name, line.decode(errors="replace").rstrip())
