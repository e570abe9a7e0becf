"""``opencode-sidecar install-opencode``: the real OpenCode, from npm, into ``.opencode/``."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

OPENCODE_PACKAGE = "opencode-ai"
OPENCODE_VERSION = "1.18.33"
"""The version the reference runtime is verified with (the one place it is written)."""
INSTALL_TIMEOUT = 600


class InstallError(RuntimeError):
    """npm is missing or failed; the message says what to do."""


def install_opencode(prefix: Path, version: str = OPENCODE_VERSION) -> Path:
    """``npm install --prefix PREFIX opencode-ai@VERSION``; returns the binary's path."""
    npm = shutil.which("npm")
    if npm is None:
        raise InstallError("npm is not on PATH: install Node.js 20+ (it brings npm), then retry")
    prefix.mkdir(parents=True, exist_ok=True)
    # one install at a time into a prefix (CI starts one early, beside tox's own): a second
    # caller waits for the first, then finds its binary
    with (prefix / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _install_locked(npm, prefix, version)


def _install_locked(npm: str, prefix: Path, version: str) -> Path:
    binary = prefix / "node_modules" / ".bin" / "opencode"
    if binary.is_file() and _version(binary) == version:
        return binary
    argv = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund"]
    try:
        done = subprocess.run(
            [*argv, f"{OPENCODE_PACKAGE}@{version}"],
            capture_output=True,
            text=True,
            check=False,
            timeout=INSTALL_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise InstallError(
            f"npm install {OPENCODE_PACKAGE}@{version} took over {INSTALL_TIMEOUT} s: is the npm "
            "registry reachable (proxy, NODE_EXTRA_CA_CERTS for a TLS-intercepting proxy)?"
        ) from None
    if done.returncode != 0 or not binary.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise InstallError(f"npm install {OPENCODE_PACKAGE}@{version} failed: {tail[0]}")
    return binary


def _version(binary: Path) -> str | None:
    try:
        done = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None
