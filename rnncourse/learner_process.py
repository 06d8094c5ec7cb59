"""Run a submitted notebook in its own process; the grader calls its functions from outside.

Grading keeps two processes apart (see ``exercises/GRADING.md`` for the threat model):

* the **learner process** runs the submission's cells (in an IPython shell, so magics work),
  under a memory limit (``RLIMIT_AS``), with its output thrown away, in an empty working
  directory. It never sees a hidden test, a reference value or the grader's objects;
* the **grading process** (:class:`LearnerProcess` is its side) runs the hidden tests. When a
  test calls the learner's function through :func:`rnncourse.checks.call`, the arguments are
  pickled *to* the learner process, the function runs there, and only plain data comes back:
  ``torch.save`` of tagged tuples, read with ``torch.load(weights_only=True)``, so a tensor
  subclass, an object with a rigged ``__eq__`` or ``__reduce__``, or anything but real
  tensors, numbers, strings and lists/tuples/dicts of them cannot cross. Anything else the
  learner returns stays in the learner process and is seen by the tests as a :class:`Remote`
  handle (the checks then fail: "must be a torch.Tensor, got <type>").

So the learner's code can redefine ``torch.allclose``, builtins, ``grader`` or the checks as
it likes: it changes its own process only. Callables the tests pass as arguments (e.g. a
model's ``next_probs``) run in the grading process on plain data; tensors and modules the
learner's function changes in place are copied back, as are the grad mode, the default dtype
and the global torch random state, so tests behave as if the call had been local.
"""

from __future__ import annotations

import builtins
import ctypes
import io
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

# Learner code may replace builtins (``builtins.float = ...``) in its process. This module's
# functions resolve builtins in a private copy taken at import, before any learner code runs.
__builtins__ = dict(vars(builtins))

__all__ = ["LearnerDied", "LearnerProcess", "Remote", "RemoteError", "confine", "confinement_available",
           "default_confinement", "is_remote"]

_MAX_MESSAGE = 256 * 2**20  # bytes; a larger answer is refused
_MAX_DEPTH = 12  # containers nested deeper stay in the learner process
_GRACE = 5.0  # seconds a cell or call gets to react to an interrupt before the process is killed
_MAX_FILE = 256 * 2**20  # bytes: the largest file the learner process may write


class LearnerDied(BaseException):
    """The learner process died, was killed or stopped answering; the message says why.

    A BaseException, so a test's ``except Exception`` cannot swallow it.
    """


class RemoteError(Exception):
    """An exception raised by learner code that is not a builtin exception type (``remote_type``
    names it), or (``remote_type`` None) an answer that could not be read as plain data."""

    remote_type = None


class _OutOfTime(BaseException):
    """The whole notebook's time is up (raised in the grading process)."""


# ============================================================================ plain data


def _encode(value: Any, keep, depth: int = 0):
    """Learner side: ``value`` as tagged tuples of plain data; other objects kept by ``keep``."""
    import torch

    if value is None or type(value) in (bool, str):
        return ("n", value)
    if isinstance(value, int) and not isinstance(value, bool):
        return ("n", int(value))
    if isinstance(value, float):  # numpy.float64 is a float: the same number
        return ("n", float(value))
    if depth < _MAX_DEPTH:
        if type(value) in (torch.Tensor, torch.nn.Parameter):
            if value.layout == torch.strided and value.device.type == "cpu" and not value.is_quantized:
                return ("t", value.detach().clone())
        elif type(value) is torch.Size:
            return ("s", [int(i) for i in value])
        elif type(value) is torch.dtype:
            return ("y", str(value))
        elif type(value) in (list, tuple):
            return ("l" if type(value) is list else "u", [_encode(v, keep, depth + 1) for v in value])
        elif type(value) is dict and all(type(k) in (str, int) for k in value):
            return ("d", [(k, _encode(v, keep, depth + 1)) for k, v in value.items()])
    return ("r", keep(value), type(value).__name__)


class _Unreadable(Exception):
    pass


def _decode(obj, make_remote, depth: int = 0):
    """Grading side: check the shape of the tagged data strictly and rebuild it."""
    import torch

    if type(obj) is not tuple or not obj or type(obj[0]) is not str or depth > _MAX_DEPTH + 1:
        raise _Unreadable("malformed data")
    tag = obj[0]
    if tag == "n" and len(obj) == 2 and (obj[1] is None or type(obj[1]) in (bool, int, float, str)):
        return obj[1]
    if tag == "t" and len(obj) == 2 and isinstance(obj[1], torch.Tensor):
        t = obj[1]
        if (type(t) not in (torch.Tensor, torch.nn.Parameter) or t.layout != torch.strided
                or t.device.type != "cpu" or t.is_quantized):
            raise _Unreadable("not a plain CPU tensor")
        return t.detach() if type(t) is torch.nn.Parameter else t
    if tag == "s" and len(obj) == 2 and type(obj[1]) is list and all(type(i) is int for i in obj[1]):
        return torch.Size(obj[1])
    if tag == "y" and len(obj) == 2 and type(obj[1]) is str and obj[1].startswith("torch."):
        dtype = getattr(torch, obj[1][len("torch."):], None)
        if isinstance(dtype, torch.dtype):
            return dtype
    if tag in ("l", "u") and len(obj) == 2 and type(obj[1]) is list:
        items = [_decode(v, make_remote, depth + 1) for v in obj[1]]
        return items if tag == "l" else tuple(items)
    if tag == "d" and len(obj) == 2 and type(obj[1]) is list:
        out = {}
        for pair in obj[1]:
            if type(pair) is not tuple or len(pair) != 2 or type(pair[0]) not in (str, int):
                raise _Unreadable("malformed dict")
            out[pair[0]] = _decode(pair[1], make_remote, depth + 1)
        return out
    if tag == "r" and len(obj) == 3 and type(obj[1]) is int and type(obj[2]) is str:
        return make_remote(obj[1], obj[2][:60])
    raise _Unreadable(f"unexpected {tag!r}")


def _state(value: Any, depth: int = 0):
    """Learner side: what a call may have changed in an argument (tensors, modules, containers)."""
    import torch

    if depth > _MAX_DEPTH:
        return ("x",)
    if type(value) in (torch.Tensor, torch.nn.Parameter):
        grad = value.grad if value.is_leaf else None
        return ("t", value.detach().clone(), None if grad is None else grad.detach().clone())
    if isinstance(value, torch.nn.Module):
        params = [(n, p.detach().clone(), None if p.grad is None else p.grad.detach().clone())
                  for n, p in value.named_parameters()]
        buffers = [(n, b.detach().clone()) for n, b in value.named_buffers()]
        return ("m", params, buffers)
    if type(value) in (list, tuple):
        return ("l", [_state(v, depth + 1) for v in value])
    if type(value) is dict:
        return ("d", [(k, _state(v, depth + 1)) for k, v in value.items() if type(k) in (str, int)])
    return ("x",)


def _plain_tensor(t) -> bool:
    import torch

    return type(t) is torch.Tensor and t.layout == torch.strided and t.device.type == "cpu"


def _copy_into(target, new) -> None:
    import torch

    if not _plain_tensor(new):
        return
    if target.shape != new.shape or target.dtype != new.dtype:
        return
    with torch.no_grad():
        if not torch.equal(target, new):
            target.copy_(new)


def _set_grad(target, grad) -> None:
    if grad is None:
        target.grad = None
    elif _plain_tensor(grad) and grad.shape == target.shape:
        target.grad = grad.to(target.dtype)


def _apply_state(value: Any, state, depth: int = 0) -> None:
    """Grading side: copy what the learner's call changed in place back into the test's objects."""
    import torch

    if type(state) is not tuple or not state or depth > _MAX_DEPTH + 1:
        return
    tag = state[0]
    if tag == "t" and len(state) == 3 and isinstance(value, torch.Tensor):
        _copy_into(value, state[1])
        if value.is_leaf and (value.requires_grad or state[2] is not None):
            _set_grad(value, state[2])
    elif tag == "m" and len(state) == 3 and isinstance(value, torch.nn.Module):
        params = dict(value.named_parameters())
        for item in state[1] if type(state[1]) is list else []:
            if type(item) is tuple and len(item) == 3 and item[0] in params:
                _copy_into(params[item[0]], item[1])
                _set_grad(params[item[0]], item[2])
        buffers = dict(value.named_buffers())
        for item in state[2] if type(state[2]) is list else []:
            if type(item) is tuple and len(item) == 2 and item[0] in buffers:
                _copy_into(buffers[item[0]], item[1])
    elif tag == "l" and len(state) == 2 and type(value) in (list, tuple) and type(state[1]) is list:
        for v, s in zip(value, state[1]):
            _apply_state(v, s, depth + 1)
    elif tag == "d" and len(state) == 2 and type(value) is dict and type(state[1]) is list:
        for pair in state[1]:
            if type(pair) is tuple and len(pair) == 2 and pair[0] in value:
                _apply_state(value[pair[0]], pair[1], depth + 1)


def _dump(message: dict) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(message, buffer)
    return buffer.getvalue()


def _load_plain(data: bytes) -> dict:
    import torch

    try:
        message = torch.load(io.BytesIO(data), weights_only=True)
    except Exception as e:  # noqa: BLE001 - anything but plain data is refused
        raise _Unreadable(f"not plain data ({type(e).__name__})") from None
    if type(message) is not dict or type(message.get("op")) is not str:
        raise _Unreadable("not a message")
    return message


def _exception_from(kind: str, message: str) -> BaseException:
    """Grading side: rebuild an exception the learner's code raised (builtin types only)."""
    cls = getattr(builtins, kind, None)
    if isinstance(cls, type) and issubclass(cls, BaseException) and cls not in (KeyboardInterrupt,):
        try:
            return cls(message)
        except Exception:  # noqa: BLE001, S110 - an exception class with an odd constructor: below
            pass
    error = RemoteError(message)
    error.remote_type = kind
    return error


# ============================================================================ grading side


class Remote:
    """A learner object that is not plain data (a function, a module, ...), seen from the grader.

    Calling it, or a method of it (``handle.forward(x)``), runs the call in the learner process.
    """

    __slots__ = ("__weakref__", "_client", "_target", "_type", "interrupted")

    def __init__(self, client: LearnerProcess, target: tuple, type_name: str):
        object.__setattr__(self, "_client", client)
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "interrupted", False)

    def __call__(self, *args, **kwargs):
        return self._client.call(self._target, args, kwargs)

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Remote(self._client, self._target + (attr,), "attribute")

    def __setattr__(self, attr, value):
        if attr != "interrupted":
            raise AttributeError("learner objects are read-only in the grading process")
        object.__setattr__(self, attr, value)

    def __repr__(self) -> str:
        return f"<{self._type} in the notebook>"

    @property
    def remote_type(self) -> str:
        return self._type


def is_remote(value: Any) -> bool:
    return type(value) is Remote


_BOOT = (
    "import importlib.util, sys; "
    "spec = importlib.util.spec_from_file_location('_rnncourse_learner_host', sys.argv[1]); "
    "module = importlib.util.module_from_spec(spec); "
    "sys.modules[spec.name] = module; spec.loader.exec_module(module); "
    "module.host_main(sys.argv[2:])"
)


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


class LearnerProcess:
    """The grading side of a learner process: start it, run cells, call its functions, stop it.

    ``deadline`` (a ``time.monotonic()`` value) bounds everything; past it :class:`_OutOfTime`
    is raised. ``memory_mb`` limits the learner's address space; ``time_limit`` bounds one call.
    """

    def __init__(self, workdir: str, *, memory_mb: float, time_limit: float, deadline: float,
                 env: dict | None = None, log_path: str | None = None, confinement: dict | None = None):
        self.workdir, self.memory_mb, self.time_limit, self.deadline = workdir, memory_mb, time_limit, deadline
        self.env, self.log_path, self.confinement = env, log_path, confinement
        self.proc: subprocess.Popen | None = None
        self.conn: Connection | None = None
        self.dead_reason = ""
        self._callbacks: dict[int, Any] = {}
        self._globals: dict[str, Remote] = {}
        self._depth = 0  # callbacks being answered (a callback may call the learner again)

    # ------------------------------------------------------------------ life cycle
    def start(self) -> None:
        ours, theirs = socket.socketpair()
        cmd = [sys.executable, "-c", _BOOT, os.path.abspath(__file__), str(theirs.fileno()),
               str(int(self.memory_mb)), json.dumps(self.confinement or {})]
        with open(self.log_path or os.devnull, "ab") as log:  # its stderr: the last line explains a crash
            self.proc = subprocess.Popen(cmd, pass_fds=[theirs.fileno()], cwd=self.workdir, env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=log, start_new_session=True)
        theirs.close()
        self.conn = Connection(ours.detach())
        self.dead_reason = ""
        self._receive()  # "ready" once the shell is up

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
        self.proc.wait()
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def _died(self, what: str) -> LearnerDied:
        try:  # it may be exiting on its own: let it, so its exit status is the real one
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        self.stop()
        code = self.proc.returncode if self.proc is not None else None
        how = ("was killed by " + _signal_name(code) if code is not None and code < 0
               else f"exited with status {code}" if code is not None else "stopped")
        if code == -signal.SIGSEGV:
            how += " (a crash: segmentation fault)"
        elif code == -signal.SIGKILL and not what:
            how += " (out of memory?)"
        last = ""
        if self.log_path and not what and code is not None and code > 0:
            try:
                with open(self.log_path, "rb") as log:
                    log.seek(max(0, os.path.getsize(self.log_path) - 2000))
                    lines = log.read().decode("utf-8", "replace").strip().splitlines()
                last = f" ({' '.join(lines[-1].split())[:120]})" if lines else ""
            except OSError:
                pass
        self.dead_reason = what or f"the notebook's process {how}{last}"
        return LearnerDied(self.dead_reason)

    # ------------------------------------------------------------------ messages
    def _send(self, message: dict) -> None:
        def persistent_id(obj):
            if type(obj) is Remote:
                return ("remote", obj._target)
            if callable(obj) and _needs_callback(obj):
                self._callbacks[id(obj)] = obj
                return ("callback", id(obj))
            return None

        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.persistent_id = persistent_id
        pickler.dump(message)
        try:
            self.conn.send_bytes(buffer.getvalue())
        except (OSError, ValueError, AttributeError):
            raise self._died("") from None

    def _receive(self, timeout: float | None = None, on_timeout=None) -> dict:
        """The next message from the learner, answering its callbacks meanwhile."""
        waited_from = time.monotonic()
        interrupted_at = None
        while True:
            now = time.monotonic()
            if now >= self.deadline:
                self.stop()
                self.dead_reason = "stopped: out of time"
                raise _OutOfTime
            wait = self.deadline - now
            if timeout is not None:
                limit_at = waited_from + timeout if interrupted_at is None else interrupted_at + _GRACE
                if now >= limit_at:
                    if interrupted_at is None:
                        interrupted_at = now
                        if on_timeout is not None:
                            on_timeout()
                        continue
                    raise self._died(f"the notebook's process ignored the interrupt after "
                                     f"{timeout:g} s and was killed")
                wait = min(wait, limit_at - now)
            try:
                ready = self.conn.poll(min(wait, 1.0))
            except (OSError, EOFError, AttributeError):
                raise self._died("") from None
            if not ready:
                if self.proc.poll() is not None:
                    raise self._died("")
                continue
            try:
                data = self.conn.recv_bytes(_MAX_MESSAGE)
            except (OSError, EOFError):
                raise self._died("") from None
            try:
                message = _load_plain(data)
            except _Unreadable as e:
                message = {"op": "unreadable", "why": str(e)}
            if message["op"] == "callback":
                self._answer_callback(message)
                continue
            return message

    def _answer_callback(self, message: dict) -> None:
        fn = self._callbacks.get(message.get("cb")) if type(message.get("cb")) is int else None
        self._depth += 1
        try:
            if fn is None:
                raise RuntimeError("no such function")
            args = _decode(message.get("args"), self._remote)
            kwargs = _decode(message.get("kwargs"), self._remote)
            if type(args) is not list or type(kwargs) is not dict:
                raise _Unreadable("bad arguments")
            value = fn(*args, **{str(k): v for k, v in kwargs.items()})
        except LearnerDied:
            raise
        except Exception as e:  # noqa: BLE001 - the test's function failed on the learner's input
            self._send({"op": "raise", "type": type(e).__name__, "message": str(e)[:300]})
            return
        finally:
            self._depth -= 1
        self._send({"op": "return", "value": value})

    def _remote(self, handle: int, type_name: str) -> Remote:
        return Remote(self, ("remote", handle), type_name)

    # ------------------------------------------------------------------ operations
    def run_cell(self, source: str, timeout: float) -> tuple[str, str] | None:
        """Run one cell; ``None`` if it succeeded, else ``(error name, message)``.

        A cell that runs longer than ``timeout`` is interrupted (SIGINT, like Jupyter); one that
        then still does not finish within a few seconds, or kills its process, raises LearnerDied.
        """
        if self.conn is None:
            raise LearnerDied(self.dead_reason or "the notebook's process is not running")
        self._send({"op": "cell", "source": source})
        reply = self._receive(timeout, on_timeout=lambda: os.kill(self.proc.pid, signal.SIGINT))
        error = reply.get("error")
        if reply.get("op") != "cell":
            return ("GradingError", "the notebook's process gave an unreadable answer")
        if error is None:
            return None
        if type(error) is tuple and len(error) == 2 and all(type(e) is str for e in error):
            return error
        return ("Error", "")

    def lookup(self, name: str) -> Any:
        """The learner's global ``name`` as a test parameter: None if undefined, plain data, or a Remote."""
        if self.conn is None:
            raise LearnerDied(self.dead_reason or "the notebook's process is not running")
        self._send({"op": "lookup", "name": name})
        reply = self._receive(30.0)
        if reply.get("op") != "value":
            return None
        if reply.get("missing"):
            return None
        if reply.get("ellipsis"):
            return Ellipsis
        try:
            value = _decode(reply.get("value"), self._remote)
        except _Unreadable:
            return None
        if type(value) is Remote:  # one handle per name, so a call stopped once is remembered
            known = self._globals.get(name)
            if known is None or known.remote_type != value.remote_type:
                known = self._globals[name] = Remote(self, ("global", name), value.remote_type)
            return known
        return value

    def call(self, target: tuple, args: tuple, kwargs: dict) -> Any:
        """Call a learner object; return plain data or a Remote; re-raise what the learner raised."""

        if self.conn is None:
            raise LearnerDied(self.dead_reason or "the notebook's process is not running")
        # A test's own time limit (an alarm around a local function that calls this one) must not
        # cut an exchange in half: the alarm waits until the learner has answered.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        try:
            result = self._call(target, args, kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return result

    def _call(self, target: tuple, args: tuple, kwargs: dict) -> Any:
        import torch

        if self._depth == 0:  # a call made from inside a callback keeps the outer call's callbacks
            self._callbacks.clear()
        self._send({"op": "call", "target": target, "args": list(args), "kwargs": dict(kwargs),
                    "grad": torch.is_grad_enabled(), "dtype": str(torch.get_default_dtype()),
                    "rng": torch.get_rng_state(), "limit": self.time_limit})
        limit = self.time_limit if self.time_limit > 0 else None
        reply = self._receive(None if limit is None else limit + _GRACE,
                              on_timeout=lambda: os.kill(self.proc.pid, signal.SIGINT))
        rng = reply.get("rng")
        if _plain_tensor(rng) and rng.dtype == torch.uint8 and rng.shape == torch.get_rng_state().shape:
            torch.set_rng_state(rng)
        state = reply.get("state")
        if (type(state) is tuple and len(state) == 2 and state[0] == "args"
                and type(state[1]) is tuple and len(state[1]) == 2):
            _apply_state(list(args), state[1][0])  # the same tensor objects: changed in place
            _apply_state(dict(kwargs), state[1][1])
        op = reply.get("op")
        if op == "result":
            try:
                return _decode(reply.get("value"), self._remote)
            except _Unreadable as e:
                raise RemoteError(f"returned something that could not be read as plain data ({e})") from None
        if op == "unreadable":
            raise RemoteError("returned something that could not be read as plain data (refused unread)")
        if op == "timeout":
            from rnncourse.checks import _TimeLimitExceeded

            raise _TimeLimitExceeded
        if op == "exception" and type(reply.get("type")) is str and type(reply.get("message")) is str:
            if reply["type"] == "SystemExit":
                raise SystemExit(reply["message"])
            raise _exception_from(reply["type"], reply["message"])
        raise RemoteError("gave an answer the grader could not read")


def _needs_callback(obj: Any) -> bool:
    """Functions defined inside tests (closures, lambdas, bound methods) cannot be pickled by name."""
    import types

    if isinstance(obj, (types.FunctionType, types.MethodType, types.BuiltinMethodType)):
        qualname = getattr(obj, "__qualname__", "")
        if isinstance(obj, types.MethodType) or "<locals>" in qualname or "<lambda>" in qualname:
            return True
        module = sys.modules.get(getattr(obj, "__module__", "") or "")
        return module is None or getattr(module, obj.__name__, None) is not obj
    return False


# ============================================================================ confinement

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
    """Restrict this process, for good, to reading ``read``, listing ``list_only`` and writing ``write``.

    Also (Landlock ABI 6+) stops it from signalling processes outside it, such as the grader.
    Returns the Landlock ABI used, 0 if the kernel has none (then nothing is restricted).
    """
    abi = _landlock_abi()
    if abi < 1:
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    handled = _FS_ALL_V1 | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                    ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    attr = RulesetAttr(handled, 0, (_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 else 0)
    size = ctypes.sizeof(RulesetAttr) if abi >= 6 else 8
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
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
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        rule = PathBeneath(rights & handled, fd)
        if rule.allowed_access:
            libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(rule),
                         ctypes.c_uint32(0))
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
    """What the learner process may read, list and write: Python, its packages, rnncourse's
    package folder, system folders; never the course repository's exercises or build output."""
    read = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
            "/usr", "/lib", "/lib64", "/bin", "/etc", "/proc", "/sys", "/dev", "/opt"}
    read |= _package_dirs(package_dir)
    listed = set()
    inside = tuple(os.path.join(os.path.realpath(p), "") for p in read)
    for entry in sys.path:
        if not entry or not os.path.isdir(entry):
            continue
        real = os.path.join(os.path.realpath(entry), "")
        if not real.startswith(inside):
            listed.add(entry)  # e.g. a checkout on PYTHONPATH: list it to import from it, not read it
    read = {p for p in read if os.path.exists(p)} | {os.path.realpath(p) for p in read if os.path.exists(p)}
    return {"read": sorted(read), "list": sorted(listed), "write": [workdir, "/dev/null"]}


# ============================================================================ learner side


def host_main(argv: list[str]) -> None:  # pragma: no cover - runs in the learner process
    """The learner process: limits, an IPython shell, then serve the grader's requests."""
    import resource

    fd, memory_mb = int(argv[0]), float(argv[1])
    confinement = json.loads(argv[2])
    if memory_mb > 0:
        limit = int(memory_mb * 2**20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file behind
    resource.setrlimit(resource.RLIMIT_FSIZE, (_MAX_FILE, _MAX_FILE))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails instead of killing
    conn = Connection(fd)
    if confinement:
        confine(confinement["read"], confinement["list"], confinement["write"])
    os.environ.setdefault("MPLBACKEND", "Agg")
    import torch
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    objects: dict[int, Any] = {}

    def keep(value):
        objects[id(value)] = value
        return id(value)

    def send(message):
        conn.send_bytes(_dump(message))

    def receive():
        data = conn.recv_bytes()

        def persistent_load(pid):
            kind, key = pid
            if kind == "remote":
                return resolve(key)
            return callback_proxy(key)

        unpickler = pickle.Unpickler(io.BytesIO(data))
        unpickler.persistent_load = persistent_load
        return unpickler.load()

    def resolve(target):
        if target[0] == "global":
            obj = shell.user_ns[target[1]]
        else:
            obj = objects[target[1]]
        for attr in target[2:]:
            obj = getattr(obj, attr)
        return obj

    def callback_proxy(key):
        def proxy(*args, **kwargs):
            send({"op": "callback", "cb": key, "args": _encode(list(args), keep),
                  "kwargs": _encode(dict(kwargs), keep)})
            reply = serve(until=("return", "raise"))
            if reply["op"] == "raise":
                raise _exception_from(reply["type"], reply["message"])
            return reply["value"]
        return proxy

    def do_call(message):
        limit = float(message.get("limit") or 0)
        fired = []

        def alarm(signum, frame):
            fired.append(1)
            raise KeyboardInterrupt

        torch.set_rng_state(message["rng"])
        torch.set_default_dtype(getattr(torch, message["dtype"].split(".")[-1]))
        args, kwargs = message["args"], message["kwargs"]
        reply: dict
        previous = signal.signal(signal.SIGALRM, alarm) if limit > 0 else None
        try:
            fn = resolve(message["target"])
            if limit > 0:
                signal.setitimer(signal.ITIMER_REAL, limit)
            with torch.set_grad_enabled(bool(message["grad"])):
                value = fn(*args, **kwargs)
            if limit > 0:
                signal.setitimer(signal.ITIMER_REAL, 0)
            reply = {"op": "result", "value": _encode(value, keep)}
        except (KeyboardInterrupt, SystemExit, BaseException) as e:  # noqa: BLE001
            if limit > 0:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if isinstance(e, KeyboardInterrupt):
                reply = {"op": "timeout"}
            else:
                text = str(e).strip().splitlines()[0] if str(e).strip() else ""
                reply = {"op": "exception", "type": type(e).__name__, "message": text[:300]}
        finally:
            if previous is not None:
                signal.signal(signal.SIGALRM, previous)
        try:
            reply["state"] = ("args", (_state(list(args)), _state(dict(kwargs))))
        except Exception:  # noqa: BLE001 - the arguments are the learner's business now
            reply["state"] = ("args", (("x",), ("x",)))
        reply["rng"] = torch.get_rng_state()
        return reply

    def serve(until=()):
        while True:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a late interrupt must not hit the loop
            try:
                message = receive()
            except (EOFError, OSError):
                os._exit(0)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            op = message["op"]
            if op in until:
                return message
            try:
                handle(op, message)
            except BaseException as e:  # noqa: BLE001 - learner code broke something here: say so
                text = (str(e).strip().splitlines() or [""])[0][:200]
                send({"op": "exception", "type": type(e).__name__, "message": f"in the grading helper: {text}",
                      "rng": torch.get_rng_state()})

    def handle(op, message):
        if op == "cell":
            try:
                result = shell.run_cell(message["source"], store_history=False)
                error = result.error_before_exec or result.error_in_exec
            except BaseException as e:  # noqa: BLE001 - e.g. an interrupt between statements
                error = e
            info = None if error is None else (type(error).__name__, str(error)[:300])
            send({"op": "cell", "error": info})
        elif op == "lookup":
            name = message["name"]
            if name not in shell.user_ns:
                send({"op": "value", "missing": True})
            elif shell.user_ns[name] is Ellipsis:
                send({"op": "value", "ellipsis": True})
            else:
                send({"op": "value", "value": _encode(shell.user_ns[name], keep)})
        elif op == "call":
            reply = do_call(message)
            try:
                send(reply)
            except Exception as e:  # noqa: BLE001 - e.g. out of memory while saving the answer
                send({"op": "exception", "type": type(e).__name__, "message": "while returning: "
                      + (str(e).splitlines() or [""])[0][:200], "rng": reply.get("rng")})
        elif op == "bye":
            os._exit(0)

    send({"op": "ready"})
    serve()
