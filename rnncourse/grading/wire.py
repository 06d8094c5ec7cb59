"""The wire protocol between the grading process and the learner process: plain data only.

The learner side encodes what a call returns as tagged tuples (:func:`encode`) and sends them
with ``torch.save`` (:func:`dump`); the grading side reads them with
``torch.load(weights_only=True)`` (:func:`load_plain`) and checks their shape strictly while it
rebuilds them (:func:`decode`). So only real CPU tensors, numbers, strings, ``torch.Size``,
dtypes and lists/tuples/dicts of them cross; anything else stays in the learner process and is
seen from the grader as a handle (tag ``"r"``).

:func:`arg_state` and :func:`apply_state` carry what a call changed in place in its arguments
(tensors, their ``.grad``, modules' parameters and buffers) back to the grading side, for the
calls that ask for it (``rnncourse.grading.checks.call_in_place``).
"""

from __future__ import annotations

import builtins
import io
from collections.abc import Callable
from typing import Any

# The learner side of this module runs after learner code, which may replace builtins
# (``builtins.type = ...``) in its process: resolve builtins in a private copy taken at import.
__builtins__ = dict(vars(builtins))

__all__ = [
    "MAX_DEPTH",
    "RemoteError",
    "UnreadableError",
    "apply_state",
    "arg_state",
    "decode",
    "dump",
    "encode",
    "exception_from",
    "load_plain",
    "plain_tensor",
]

MAX_DEPTH = 12  # containers nested deeper stay in the learner process


class RemoteError(Exception):
    """What learner code raised, if not a builtin exception; or an unreadable answer.

    ``remote_type`` names the learner's exception type; it is None for an answer that could not
    be read as plain data.
    """

    remote_type = None


def encode(value: Any, keep: Callable[[Any], int], depth: int = 0) -> tuple:
    """Learner side: ``value`` as tagged tuples of plain data; other objects kept by ``keep``."""
    import torch

    if value is None or type(value) in (bool, str):
        return ("n", value)
    if isinstance(value, int) and not isinstance(value, bool):
        return ("n", int(value))
    if isinstance(value, float):  # numpy.float64 is a float: the same number
        return ("n", float(value))
    if depth < MAX_DEPTH:
        if type(value) in (torch.Tensor, torch.nn.Parameter):
            if (
                value.layout == torch.strided
                and value.device.type == "cpu"
                and not value.is_quantized
            ):
                return ("t", value.detach().clone())
        elif type(value) is torch.Size:
            return ("s", [int(i) for i in value])
        elif type(value) is torch.dtype:
            return ("y", str(value))
        elif type(value) in (list, tuple):
            return (
                "l" if type(value) is list else "u",
                [encode(v, keep, depth + 1) for v in value],
            )
        elif type(value) is dict and all(type(k) in (str, int) for k in value):
            return ("d", [(k, encode(v, keep, depth + 1)) for k, v in value.items()])
    return ("r", keep(value), type(value).__name__)


class UnreadableError(Exception):
    """What came from the learner process is not plain data of the expected shape."""


def decode(obj: object, make_remote: Callable[[int, str], Any], depth: int = 0) -> Any:
    """Grading side: check the shape of the tagged data strictly and rebuild it."""
    import torch

    if type(obj) is not tuple or not obj or type(obj[0]) is not str or depth > MAX_DEPTH + 1:
        raise UnreadableError("malformed data")
    tag = obj[0]
    if tag == "n" and len(obj) == 2 and (obj[1] is None or type(obj[1]) in (bool, int, float, str)):
        return obj[1]
    if tag == "t" and len(obj) == 2 and isinstance(obj[1], torch.Tensor):
        t = obj[1]
        if (
            type(t) not in (torch.Tensor, torch.nn.Parameter)
            or t.layout != torch.strided
            or t.device.type != "cpu"
            or t.is_quantized
        ):
            raise UnreadableError("not a plain CPU tensor")
        return t.detach() if type(t) is torch.nn.Parameter else t
    if (
        tag == "s"
        and len(obj) == 2
        and type(obj[1]) is list
        and all(type(i) is int for i in obj[1])
    ):
        return torch.Size(obj[1])
    if tag == "y" and len(obj) == 2 and type(obj[1]) is str and obj[1].startswith("torch."):
        dtype = getattr(torch, obj[1][len("torch.") :], None)
        if isinstance(dtype, torch.dtype):
            return dtype
    if tag in ("l", "u") and len(obj) == 2 and type(obj[1]) is list:
        items = [decode(v, make_remote, depth + 1) for v in obj[1]]
        return items if tag == "l" else tuple(items)
    if tag == "d" and len(obj) == 2 and type(obj[1]) is list:
        out = {}
        for pair in obj[1]:
            if type(pair) is not tuple or len(pair) != 2 or type(pair[0]) not in (str, int):
                raise UnreadableError("malformed dict")
            out[pair[0]] = decode(pair[1], make_remote, depth + 1)
        return out
    if tag == "r" and len(obj) == 3 and type(obj[1]) is int and type(obj[2]) is str:
        return make_remote(obj[1], obj[2][:60])
    raise UnreadableError(f"unexpected {tag!r}")


def arg_state(value: Any, depth: int = 0) -> tuple:
    """Learner side: what a call may have changed in an argument (tensors, modules, containers)."""
    import torch

    if depth > MAX_DEPTH:
        return ("x",)
    if type(value) in (torch.Tensor, torch.nn.Parameter):
        grad = value.grad if value.is_leaf else None
        return ("t", value.detach().clone(), None if grad is None else grad.detach().clone())
    if isinstance(value, torch.nn.Module):
        params = [
            (n, p.detach().clone(), None if p.grad is None else p.grad.detach().clone())
            for n, p in value.named_parameters()
        ]
        buffers = [(n, b.detach().clone()) for n, b in value.named_buffers()]
        return ("m", params, buffers)
    if type(value) in (list, tuple):
        return ("l", [arg_state(v, depth + 1) for v in value])
    if type(value) is dict:
        return (
            "d",
            [(k, arg_state(v, depth + 1)) for k, v in value.items() if type(k) in (str, int)],
        )
    return ("x",)


def plain_tensor(t: object) -> bool:
    """Whether ``t`` is an exact, strided CPU ``torch.Tensor``."""
    import torch

    return type(t) is torch.Tensor and t.layout == torch.strided and t.device.type == "cpu"


def _copy_into(target: Any, new: object) -> None:
    import torch

    if not plain_tensor(new):
        return
    if target.shape != new.shape or target.dtype != new.dtype:
        return
    with torch.no_grad():
        if not torch.equal(target, new):
            target.copy_(new)


def _set_grad(target: Any, grad: object) -> None:
    if grad is None:
        target.grad = None
    elif plain_tensor(grad) and grad.shape == target.shape:
        target.grad = grad.to(target.dtype)


def apply_state(value: Any, state: object, depth: int = 0) -> None:
    """Grading side: copy what the learner's call changed in place back into the test's objects."""
    import torch

    if type(state) is not tuple or not state or depth > MAX_DEPTH + 1:
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
        for v, s in zip(value, state[1], strict=False):  # the learner's side may send fewer
            apply_state(v, s, depth + 1)
    elif tag == "d" and len(state) == 2 and type(value) is dict and type(state[1]) is list:
        for pair in state[1]:
            if type(pair) is tuple and len(pair) == 2 and pair[0] in value:
                apply_state(value[pair[0]], pair[1], depth + 1)


def dump(message: dict) -> bytes:
    """``message`` as ``torch.save`` bytes (the learner side's answer)."""
    import torch

    buffer = io.BytesIO()
    torch.save(message, buffer)
    return buffer.getvalue()


def load_plain(data: bytes) -> dict:
    """Read a message with ``torch.load(weights_only=True)``; UnreadableError if not plain data."""
    import torch

    try:
        message = torch.load(io.BytesIO(data), weights_only=True)
    except Exception as e:  # noqa: BLE001 - anything but plain data is refused
        raise UnreadableError(f"not plain data ({type(e).__name__})") from None
    if type(message) is not dict or type(message.get("op")) is not str:
        raise UnreadableError("not a message")
    return message


def exception_from(kind: str, message: str) -> BaseException:
    """Grading side: rebuild an exception the learner's code raised (builtin types only)."""
    cls = getattr(builtins, kind, None)
    if isinstance(cls, type) and issubclass(cls, BaseException) and cls is not KeyboardInterrupt:
        try:
            return cls(message)
        except Exception:  # noqa: BLE001, S110 - an exception class with an odd constructor: below
            pass
    error = RemoteError(message)
    error.remote_type = kind
    return error
