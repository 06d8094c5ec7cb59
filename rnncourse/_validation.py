"""Input checks shared by the course's modules: every message says what was expected and what came."""

from __future__ import annotations

import torch

__all__: list[str] = []


def check_tensor(name: str, value: object) -> torch.Tensor:
    """Raise ``ValueError`` unless ``value`` is a ``torch.Tensor``."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
    return value


def check_floating(name: str, value: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``value`` has a floating-point dtype."""
    if not value.is_floating_point():
        raise ValueError(
            f"{name}: expected a floating-point tensor (float32 or float64), got dtype {value.dtype}"
        )


def check_ndim(name: str, value: torch.Tensor, ndims: tuple[int, ...], meaning: str) -> None:
    """Raise ``ValueError`` unless ``value.dim()`` is one of ``ndims``."""
    if value.dim() not in ndims:
        want = " or ".join(str(n) for n in ndims)
        raise ValueError(
            f"{name}: expected {want} dimensions {meaning}, got {value.dim()} "
            f"(shape {tuple(value.shape)})"
        )


def check_shape(name: str, value: torch.Tensor, expected: tuple[int, ...]) -> None:
    """Raise ``ValueError`` unless ``value.shape == expected``."""
    if tuple(value.shape) != tuple(expected):
        raise ValueError(f"{name}: expected shape {tuple(expected)}, got {tuple(value.shape)}")
