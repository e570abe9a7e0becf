"""Drop every Linux capability of the calling process, for good (before ``exec``).

Why: Landlock keeps a confined process from reading ``/proc/PID/environ`` of a process
outside its domain, except when it holds ``CAP_SYS_PTRACE``; a sidecar run as root (a
developer's machine, a CI runner) would hand that to every tool. In a pod run as non-root
there is nothing to drop and this changes nothing. Hand-written with ctypes (``prctl`` and
``capset``, a few lines): no maintained binding covers the bounding set on PyPI's side
without a C extension (``python-prctl`` needs libcap headers to build).
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform

_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_SYS_CAPSET = {"x86_64": 126, "aarch64": 91}.get(platform.machine(), 126)
_CAPABILITY_VERSION_3 = 0x20080522
_MAX_CAPABILITIES = 64


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_libc = ctypes.CDLL(None, use_errno=True)


def drop_all() -> None:
    """Empty the bounding, ambient, effective, permitted and inheritable sets (so an
    ``exec`` of a set-uid or root program gains none back)."""
    _libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)  # EINVAL before 4.3
    for cap in range(_MAX_CAPABILITIES):
        if _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            code = ctypes.get_errno()
            if code == errno.EINVAL:  # past the kernel's last capability
                break
            if code != errno.EPERM:  # EPERM: no CAP_SETPCAP, so nothing to drop here
                raise OSError(code, f"prctl(PR_CAPBSET_DROP, {cap}): {os.strerror(code)}")
    header = _Header(_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    if _libc.syscall(_SYS_CAPSET, ctypes.byref(header), data) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"capset: {os.strerror(code)}")
