"""Input checks shared by the course's modules, with one message style.

Every check raises ``ValueError`` naming the argument, what was expected and what came::

    x: expected shape (L, N, 8), got (5, 3)
    hidden_size: expected a positive int, got 0
    x: expected dtype torch.float32 (the weights' dtype), got torch.float64

A shape is written as PyTorch's symbols where any size will do (``L``, ``N``) and as numbers
where the size is fixed by something already known (``8``, the network's input size).
"""

from __future__ import annotations

import torch

__all__: list[str] = []

Dim = int | str  # an exact size, or a symbol: any size, the same wherever the symbol repeats


def check_tensor(name: str, value: object) -> torch.Tensor:
    """Raise ``ValueError`` unless ``value`` is a ``torch.Tensor``; return it."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
    return value


def check_floating(name: str, value: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``value`` has a floating-point dtype."""
    if not value.is_floating_point():
        raise ValueError(
            f"{name}: expected a floating-point tensor (float32 or float64), "
            f"got dtype {value.dtype}"
        )


def check_same_dtype(name: str, first: torch.Tensor, **others: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``first`` is floating point and all ``others`` have its dtype."""
    check_floating(name, first)
    for other, value in others.items():
        if value.dtype != first.dtype:
            raise ValueError(
                f"{other}: expected dtype {first.dtype} (the dtype of {name}), got {value.dtype}"
            )


def _format(shape: tuple[Dim, ...]) -> str:
    """``("L", "N", 8)`` -> ``(L, N, 8)``; one entry keeps its comma, as Python writes it."""
    inner = ", ".join(str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def _matches(shape: tuple[int, ...], expected: tuple[Dim, ...]) -> bool:
    if len(shape) != len(expected):
        return False
    bound: dict[str, int] = {}
    for size, want in zip(shape, expected, strict=True):
        if isinstance(want, str):
            if bound.setdefault(want, size) != size:
                return False
        elif size != want:
            return False
    return True


def check_shape(name: str, value: object, *shapes: tuple[Dim, ...]) -> tuple[int, ...]:
    """Raise ``ValueError`` unless ``value`` is a tensor whose shape matches one of ``shapes``.

    A number must match exactly; a symbol (a string such as ``"L"``) matches any size, the
    same size wherever it repeats, so ``("H", "H")`` asks for a square matrix.

    Returns:
        The tensor's shape, as a tuple of ints, for the caller to unpack.

    Example:
        >>> check_shape("x", torch.zeros(5, 3), ("L", "N", 8))
        Traceback (most recent call last):
        ...
        ValueError: x: expected shape (L, N, 8), got (5, 3)
    """
    got = tuple(check_tensor(name, value).shape)
    if not any(_matches(got, tuple(shape)) for shape in shapes):
        want = " or ".join(_format(tuple(shape)) for shape in shapes)
        raise ValueError(f"{name}: expected shape {want}, got {_format(got)}")
    return got


def check_ndim(name: str, value: torch.Tensor, ndims: tuple[int, ...], meaning: str) -> None:
    """Raise ``ValueError`` unless ``value.dim()`` is one of ``ndims``.

    Older form, kept for ``rnncourse.layouts`` until it moves to :func:`check_shape`.
    """
    if value.dim() not in ndims:
        want = " or ".join(str(n) for n in ndims)
        raise ValueError(
            f"{name}: expected {want} dimensions {meaning}, got {value.dim()} "
            f"(shape {tuple(value.shape)})"
        )


def check_int(name: str, value: object, minimum: int = 1, why: str = "") -> int:
    """Raise ``ValueError`` unless ``value`` is an int (not a bool) >= ``minimum``; return it.

    ``why``, if given, is said in the message: ``vocab_size: expected an int >= 4 (padding,
    marker, two content tokens), got 3``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        want = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        reason = f" ({why})" if why else ""
        raise ValueError(f"{name}: expected {want}{reason}, got {value!r}")
    return value


def check_sequence(
    name: str,
    x: object,
    input_size: Dim,
    dtype: torch.dtype | None,
    *,
    batch_first: bool = False,
    unbatched: bool = False,
) -> torch.Tensor:
    """Check an RNN's input: a floating tensor of the weights' dtype, at least one step long.

    Shapes, with H_in = ``input_size``: (L, N, H_in), or (N, L, H_in) when ``batch_first``;
    also (L, H_in) when ``unbatched`` sequences are accepted, as ``torch.nn.RNN`` does.
    ``input_size`` may be a symbol (``"H_in"``) where no weight fixes it yet, and ``dtype``
    None where any floating dtype will do.

    Returns:
        ``x``, checked.
    """
    shapes: list[tuple[Dim, ...]] = [("N", "L", input_size) if batch_first
                                     else ("L", "N", input_size)]
    if unbatched:
        shapes.append(("L", input_size))
    shape = check_shape(name, x, *shapes)
    x = check_tensor(name, x)
    steps = shape[1 if (batch_first and len(shape) == 3) else 0]
    if steps == 0:
        raise ValueError(f"{name}: expected a sequence of length L >= 1, got shape {shape}")
    check_floating(name, x)
    if dtype is not None and x.dtype != dtype:
        raise ValueError(f"{name}: expected dtype {dtype} (the weights' dtype), got {x.dtype}")
    return x


def check_concat_weight(name: str, W_m: object) -> tuple[int, int]:
    """Check a concatenated weight W_m = [W_xh | W_hh], (H, H_in + H) with H_in >= 1.

    Returns:
        ``(H_in, H)``.
    """
    H, columns = check_shape(name, W_m, ("H", "H_in + H"))
    if columns <= H:
        raise ValueError(f"{name}: expected shape (H, H_in + H) with H_in >= 1, so more "
                         f"columns than rows, got {_format((H, columns))}")
    check_floating(name, check_tensor(name, W_m))
    return columns - H, H
