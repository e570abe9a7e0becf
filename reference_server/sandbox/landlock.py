"""Landlock (Linux Security Module) through its three system calls, with ctypes.

Hand-written on purpose: the one binding on PyPI (``landlock`` 1.0.0.dev5, alpha) has no
types, stops at ABI 5 (no ABI 6 scopes, which keep a confined command from signalling the
sidecar), reads ``errno`` instead of the return value to detect failure, and leaks the
ruleset descriptor. This module is the whole of what we need: the ABI probe, one ruleset of
path rules, and ``restrict_self``. It imports only the standard library, so the launcher
(``python -I -m reference_server.sandbox.launch``) starts fast.

Semantics (``man 7 landlock``): once a thread calls :func:`restrict`, it and every process
it starts can only open files beneath the paths of the rules, with the rights granted
there; the domain is inherited across ``fork`` and ``execve`` and can never be lifted. A
confined process also cannot ``ptrace`` (hence read ``/proc/PID/environ`` or ``mem`` of)
any process outside its domain, and with ABI >= 6 cannot signal it either.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntFlag
from pathlib import Path

_SYS_CREATE_RULESET = 444  # the same number on every architecture (new syscall table)
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38


class Access(IntFlag):
    """``LANDLOCK_ACCESS_FS_*``: what a rule may allow beneath its path."""

    EXECUTE = 1 << 0
    WRITE_FILE = 1 << 1
    READ_FILE = 1 << 2
    READ_DIR = 1 << 3
    REMOVE_DIR = 1 << 4
    REMOVE_FILE = 1 << 5
    MAKE_CHAR = 1 << 6
    MAKE_DIR = 1 << 7
    MAKE_REG = 1 << 8
    MAKE_SOCK = 1 << 9
    MAKE_FIFO = 1 << 10
    MAKE_BLOCK = 1 << 11
    MAKE_SYM = 1 << 12
    REFER = 1 << 13  # ABI 2
    TRUNCATE = 1 << 14  # ABI 3
    IOCTL_DEV = 1 << 15  # ABI 5


class Scope(IntFlag):
    """``LANDLOCK_SCOPE_*`` (ABI 6): IPC toward processes outside the domain."""

    ABSTRACT_UNIX_SOCKET = 1 << 0
    SIGNAL = 1 << 1


FILE_RIGHTS = (
    Access.EXECUTE | Access.WRITE_FILE | Access.READ_FILE | Access.TRUNCATE | Access.IOCTL_DEV
)
"""The only rights a rule on a regular file (not a directory) may carry."""
READ_ONLY = Access.EXECUTE | Access.READ_FILE | Access.READ_DIR
READ_WRITE = Access(sum(Access))

_ABI_RIGHTS = {1: Access(0x1FFF), 2: Access(0x3FFF), 3: Access(0x7FFF), 4: Access(0x7FFF)}
"""Filesystem rights each ABI knows (ABI 4 added network rules; ABI >= 5 knows them all)."""


class LandlockUnavailable(OSError):
    """The kernel cannot confine (no Landlock, disabled at boot, or too old)."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel's struct is __attribute__((packed))
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when it has none (or it is disabled)."""
    result = _syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    return max(0, int(result))


def unavailable_reason() -> str | None:
    """Why this kernel cannot confine, in a few words; ``None`` when it can."""
    result = _syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    if result > 0:
        return None
    code = ctypes.get_errno()
    if code == errno.ENOSYS:
        return "the kernel has no Landlock (CONFIG_SECURITY_LANDLOCK)"
    if code == errno.EOPNOTSUPP:
        return "Landlock is disabled at boot (add landlock to the lsm= kernel parameter)"
    return f"Landlock is unavailable ({os.strerror(code)})"


@dataclass(frozen=True)
class Rule:
    path: Path
    access: Access


def handled_rights(abi: int) -> Access:
    """The rights a ruleset handles on this ABI (asking for an unknown one is EINVAL)."""
    return _ABI_RIGHTS[abi] if abi < 5 else READ_WRITE


def restrict(rules: Iterable[Rule], abi: int | None = None) -> None:
    """Confine the calling thread (and all it will start) to ``rules``; irreversible.

    Paths that do not exist are skipped; a rule on a regular file keeps only the file
    rights. Raises :class:`LandlockUnavailable` when the kernel cannot confine."""
    abi = abi_version() if abi is None else abi
    if abi < 1:
        raise LandlockUnavailable(errno.EOPNOTSUPP, unavailable_reason() or "no Landlock")
    handled = handled_rights(abi)
    scoped = Scope.ABSTRACT_UNIX_SOCKET | Scope.SIGNAL if abi >= 6 else Scope(0)
    attr = _RulesetAttr(handled, 0, scoped)
    size = ctypes.sizeof(attr) if abi >= 6 else ctypes.sizeof(ctypes.c_uint64)
    ruleset = _check(
        _syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0),
        "landlock_create_ruleset",
    )
    try:
        for rule in rules:
            _add_rule(ruleset, rule, handled)
        _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        _check(_syscall(_SYS_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    finally:
        os.close(ruleset)


def _add_rule(ruleset: int, rule: Rule, handled: Access) -> None:
    try:
        fd = os.open(rule.path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        access = rule.access & handled
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            access &= FILE_RIGHTS
        if not access:
            return
        attr = _PathBeneathAttr(access, fd)
        _check(
            _syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(attr), 0),
            f"landlock_add_rule({rule.path})",
        )
    finally:
        os.close(fd)
