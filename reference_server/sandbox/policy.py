"""What a confined tool may touch: its workspace read-write, the system read-only.

The system part is what programs need to run (binaries, libraries, a few files of
``/etc``, the harmless devices) and nothing that holds a secret: not all of ``/etc``
(``/etc/passwd`` and friends stay out, so a link to them leads nowhere), not ``/tmp``
(other sessions' workspaces and the store may live there), not ``/proc`` (another
process's command line is readable there without ptrace rights; its ``environ`` is
refused by Landlock anyway), not ``/home`` or the sidecar's own directory.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from reference_server.sandbox.landlock import READ_ONLY, READ_WRITE, Access, Rule

SYSTEM_READ_ONLY = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/resolv.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/mime.types",
    "/etc/gitconfig",
    "/etc/inputrc",
    "/etc/bash.bashrc",
    "/etc/profile",
    "/etc/terminfo",
)
"""Read (and execute) only: enough to run shells, coreutils, git, python and OpenCode.
This is contract/tools.yaml ``sandbox.readable`` (and :data:`DEVICES` its ``devices``),
written out here because the launcher imports this module before every confined command:
importing the ``contract`` package (jsonschema) would add ~0.3 s to each bash call.
tests/reference/test_sandbox.py keeps the two equal."""

DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")
DEVICE_RIGHTS = Access.READ_FILE | Access.WRITE_FILE | Access.TRUNCATE | Access.IOCTL_DEV


def confinement_rules(
    read_write: Iterable[Path], read_only: Iterable[Path] = (), system: bool = True
) -> list[Rule]:
    """The rules of one confined process: ``read_write`` (its workspace, its own state),
    ``read_only`` (e.g. the OpenCode binary) and, with ``system``, the system part."""
    rules = [Rule(Path(p), READ_ONLY) for p in SYSTEM_READ_ONLY] if system else []
    if system:
        rules += [Rule(Path(p), DEVICE_RIGHTS) for p in DEVICES]
    rules += [Rule(Path(p), READ_ONLY) for p in read_only]
    rules += [Rule(Path(p), READ_WRITE) for p in read_write]
    return rules
