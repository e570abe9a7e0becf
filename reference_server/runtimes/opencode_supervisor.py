"""The one shared ``opencode serve``, kept alive: started with the sidecar, watched for
death and for wedging, restarted.

OpenCode's known failure is to stay alive without answering (its issues #17628, #20695),
so a process that exists proves nothing: every ``probe_interval`` seconds the supervisor
asks OpenCode's health endpoint, and a child that has not answered for ``wedge_timeout``
seconds is declared wedged. Either way (it died, or it stopped answering) the sessions
running on it end with a ``runtime_error`` naming what happened (:class:`ProcessExited`
into each channel; the events they already sent stay in their logs), the child is killed
(SIGKILL reaches a stopped process too), its state is wiped, and a new child is started
(after ``restart_delay``, doubled after each failed start up to a minute). While there
is no answering child, :meth:`OpenCodeSupervisor.not_ready_reason` says why (``/ready``
is 503 with it, and new sessions are refused with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from reference_server.runtimes.opencode_process import OpenCodeProcess

log = logging.getLogger("reference_server.runtimes.opencode")

MAX_RESTART_DELAY = 60.0


class OpenCodeSupervisor:
    """Owns the current :class:`OpenCodeProcess`; replaces it when it dies or wedges."""

    def __init__(
        self,
        make_process: Callable[[], OpenCodeProcess],
        probe_interval: float,
        wedge_timeout: float,
        restart_delay: float,
    ) -> None:
        self._make_process = make_process
        self.probe_interval = probe_interval
        self.wedge_timeout = wedge_timeout
        self.restart_delay = restart_delay
        self.process: OpenCodeProcess | None = None
        self.restarts = 0
        self._reason: str | None = "opencode is starting"
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def not_ready_reason(self) -> str | None:
        if self._reason is not None:
            return self._reason
        if self.process is None:
            return "opencode is not started"
        return self.process.not_ready_reason()

    async def start(self) -> None:
        """Start the first child and wait until it answers (a binary that cannot run stops
        the sidecar's start-up with OpenCode's own words), then watch it."""
        self.process = await self._start_one()
        self._task = asyncio.create_task(self._supervise(), name="opencode-supervisor")

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.process is not None:
            await self.process.close()

    async def ready_process(self, timeout: float) -> OpenCodeProcess:
        """The answering child, waiting up to ``timeout`` seconds for a restart to end."""
        async with asyncio.timeout(timeout):
            await self._ready.wait()
        assert self.process is not None
        return self.process

    async def _start_one(self) -> OpenCodeProcess:
        process = self._make_process()
        shutil.rmtree(process.state_dir, ignore_errors=True)  # a dead child's sessions too
        try:
            await process.start()
        except BaseException:
            await process.close()
            raise
        self._reason = None
        self._ready.set()
        log.info("opencode answers", extra={"restarts": self.restarts})
        return process

    async def _supervise(self) -> None:
        while not self._closing:
            assert self.process is not None
            reason = await self._watch(self.process)
            self._ready.clear()
            self._reason = f"{reason}; restarting it"
            log.warning("opencode restarts", extra={"reason": reason})
            self.process.fail(reason)
            await self.process.close()
            self.process = await self._restart()

    async def _watch(self, process: OpenCodeProcess) -> str:
        """Until the child dies or stops answering: why it can no longer serve."""
        last_answer = time.monotonic()
        while True:
            exited = asyncio.ensure_future(process.exited.wait())
            probe = asyncio.ensure_future(process.answers(self.wedge_timeout))
            done, _ = await asyncio.wait({exited, probe}, return_when=asyncio.FIRST_COMPLETED)
            if exited in done:
                probe.cancel()
                return process.failure or "opencode exited"
            exited.cancel()
            if probe.result():
                last_answer = time.monotonic()
            elif time.monotonic() - last_answer >= self.wedge_timeout:
                return f"opencode stopped answering for {self.wedge_timeout:g} s"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.exited.wait(), self.probe_interval)

    async def _restart(self) -> OpenCodeProcess:
        delay = self.restart_delay
        while True:
            await asyncio.sleep(delay)
            self.restarts += 1
            try:
                return await self._start_one()
            except (RuntimeError, TimeoutError, OSError) as exc:
                self._reason = f"opencode did not restart: {exc}"
                log.error("opencode did not restart", extra={"error": str(exc)})
                delay = min(MAX_RESTART_DELAY, delay * 2)


def wipe(state_dir: Path) -> None:
    """Remove what a previous sidecar (killed with -9) left in ``state_dir``."""
    if state_dir.is_dir():
        for stale in state_dir.iterdir():
            shutil.rmtree(stale, ignore_errors=True)
