"""The reference as a process: CLI config errors, JSON logs, SIGTERM drain."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from suites.clientkit.client import SidecarClient, model_config
from suites.clientkit.harness import fake_model_server, python_module, reference_argv, start_server

KEY = "sk-process-test-key-0042"


def test_bad_environment_value_stops_startup_naming_the_variable(tmp_path: Path) -> None:
    done = subprocess.run(
        python_module("opencode_sidecar", "serve", "--workspace", str(tmp_path)),
        env={"PATH": "/usr/bin:/bin", "PORT": "eighty"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "PORT='eighty'" in line and "unset PORT" in line


def test_unwritable_workspace_is_a_one_line_error() -> None:
    done = subprocess.run(
        python_module("opencode_sidecar", "serve", "--workspace", "/proc/nope/ws", "--port", "0"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "/proc/nope" in done.stderr


def test_sigterm_interrupts_sessions_ends_streams_and_exits_0(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with fake_model_server() as model, log_path.open("w") as log:
        argv = reference_argv(tmp_path / "ws", log_level="info")
        with start_server(argv, stderr=log.fileno()) as server:
            client = SidecarClient(server.url)
            session_id = str(uuid.uuid4())
            created = client.create_session(
                session_id, "go", model_config("long_running", model.url, KEY)
            )
            assert created.status_code == 201
            client.http.get("/healthz", headers={"X-Request-ID": "trace-me-1"})
            events: list[str] = []

            def read() -> None:
                with client.open_stream(session_id) as stream:
                    events.extend(
                        e.data for e in client.read_events(stream) if e.event != "heartbeat"
                    )

            reader = threading.Thread(target=read)
            reader.start()
            time.sleep(0.5)
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            assert server.process.wait(15) == 0
            elapsed = time.monotonic() - started
            reader.join(5)
            client.close()
    assert elapsed < 10
    last = json.loads(events[-1])
    assert last["fatal"] is True and last["code"] == "interrupted"
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert lines, "the server logged nothing"
    assert all({"ts", "level", "msg"} <= set(entry) for entry in lines)
    session_lines = [e for e in lines if e.get("msg") in ("session started", "session ended")]
    assert session_lines and all(e.get("session_id") == session_id for e in session_lines)
    assert any(e.get("request_id") == "trace-me-1" for e in lines)
    assert KEY not in log_path.read_text()


def test_serve_help_names_the_environment_variables() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "opencode_sidecar", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0
    assert "WORKSPACE_DIR" in done.stdout


def test_unreachable_target_is_exit_2_with_one_line() -> None:
    done = subprocess.run(
        python_module("opencode_sidecar", "verify", "--target", "http://127.0.0.1:9"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "http://127.0.0.1:9" in done.stderr


def test_target_that_is_not_a_url_is_refused() -> None:
    done = subprocess.run(
        python_module("opencode_sidecar", "verify", "--target", "localhost:3003"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "http://" in done.stderr
