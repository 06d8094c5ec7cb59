"""Confine the learner process with Linux Landlock: what it may read, list and write.

The learner process may read only what Python, torch and the rnncourse package need, and write
only in its own working directory (see ``exercises/GRADING.md``).
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

__all__ = ["confine", "confinement_available", "default_confinement"]

# Linux Landlock (kernel 5.13+): the learner process may read only what Python, torch and the
# rnncourse package need, and write only in its own working directory. Values from
# <linux/landlock.h>; syscalls 444-446 on every architecture that has them.
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_ALL_V1 = (1 << 13) - 1  # execute ... make_sym
_FS_REFER, _FS_TRUNCATE = 1 << 13, 1 << 14
_FILE_RIGHTS = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446


def _landlock_abi() -> int:
    if not sys.platform.startswith("linux"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    version = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(0, version)


def confinement_available() -> bool:
    """Whether this kernel lets :func:`confine` restrict a process's files (Landlock)."""
    try:
        return _landlock_abi() >= 1
    except OSError:
        return False


def confine(read: list[str], list_only: list[str], write: list[str]) -> int:
    """Restrict this process for good: read ``read``, list ``list_only``, write ``write``.

    Also (Landlock ABI 6+) stops it from signalling processes outside it, such as the grader.
    Returns the Landlock ABI used, 0 if the kernel has none (then nothing is restricted).
    """
    abi = _landlock_abi()
    if abi < 1:
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    handled = _FS_ALL_V1 | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)

    class RulesetAttr(ctypes.Structure):
        _fields_ = [
            ("handled_access_fs", ctypes.c_uint64),
            ("handled_access_net", ctypes.c_uint64),
            ("scoped", ctypes.c_uint64),
        ]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    attr = RulesetAttr(handled, 0, (_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 else 0)
    size = ctypes.sizeof(RulesetAttr) if abi >= 6 else 8
    ruleset = libc.syscall(
        _SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)
    )
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    read_rights = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
    rules = [(p, read_rights) for p in read] + [(p, _FS_READ_DIR) for p in list_only]
    rules += [(p, handled) for p in write]
    for path, rights in rules:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        allowed = rights if Path(path).is_dir() else rights & _FILE_RIGHTS
        rule = PathBeneath(allowed & handled, fd)
        if rule.allowed_access:
            libc.syscall(
                _SYS_ADD_RULE,
                ctypes.c_int(ruleset),
                ctypes.c_int(1),
                ctypes.byref(rule),
                ctypes.c_uint32(0),
            )
        os.close(fd)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS, required to restrict oneself
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    os.close(ruleset)
    return abi


def _package_dirs(package_dir: str) -> set[str]:
    """``package_dir`` and any folder an editable install maps the ``rnncourse`` package to."""
    dirs = {package_dir}
    for name, module in list(sys.modules.items()):
        mapping = getattr(module, "MAPPING", None) if name.startswith("__editable__") else None
        if isinstance(mapping, dict) and isinstance(mapping.get("rnncourse"), str):
            dirs.add(mapping["rnncourse"])
    return dirs


def default_confinement(workdir: str, package_dir: str) -> dict:
    """What the learner process may read, list and write.

    Python, its packages, rnncourse's package folder and system folders; never the course
    repository's exercises or build output.
    """
    read = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        "/usr",
        "/lib",
        "/lib64",
        "/bin",
        "/etc",
        "/proc",
        "/sys",
        "/dev",
        "/opt",
    }
    read |= _package_dirs(package_dir)
    listed = set()
    inside = tuple(os.path.realpath(p).rstrip(os.sep) + os.sep for p in read)
    for entry in sys.path:
        if not entry or not Path(entry).is_dir():
            continue
        real = os.path.realpath(entry).rstrip(os.sep) + os.sep
        if not real.startswith(inside):
            listed.add(entry)  # e.g. a checkout on PYTHONPATH: list it to import from it
    present = [p for p in read if Path(p).exists()]
    read = set(present) | {os.path.realpath(p) for p in present}
    return {"read": sorted(read), "list": sorted(listed), "write": [workdir, "/dev/null"]}
