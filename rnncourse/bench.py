"""Benchmark: the course's from-scratch Elman RNNs against torch.nn.RNN, all in plain PyTorch.

Run ``python -m rnncourse.bench`` (or ``make bench``). Chapter 3's performance section
explains the numbers. One forward and backward pass of a one-layer tanh RNN, CPU, float32,

    N = 64 sequences, L = 100 steps, H_in = 128 inputs, H = 256 hidden units, h_0 = 0,

timed for the versions of :func:`contenders`, which compute the same function and the same
gradients (with respect to x and every weight):

=========================  ==================================================================
name                       what it runs
=========================  ==================================================================
``split_loop``             :func:`rnncourse.cells.split_loop`: two matmuls a step, autograd
``concat_loop``            :func:`rnncourse.cells.concat_loop`: one matmul on [x_t; h] a step
``ElmanRNN``               :class:`rnncourse.elman.ElmanRNN`: input product hoisted, ``unbind``
``indexed_hoisted_loop``   :func:`rnncourse.cells.indexed_hoisted_loop`: hoisted, ``xp[t]``
``fast_elman``             :func:`rnncourse.fast_elman.fast_elman`: hoisted, hand-written backward
``torch.nn.RNN``           PyTorch's own layer
=========================  ==================================================================

A large matrix product (2048 x 2048 by 2048 x 2048) is timed in the same run, with the
same number of threads (``--threads``; default PyTorch's, i.e. ``OMP_NUM_THREADS`` or the
core count), to estimate what this machine's BLAS reaches. Rounds are interleaved (one
``torch.utils.benchmark`` measurement of each per round) so that a burst of load from other
processes is spread over the contenders instead of landing on one; each figure is the median
over rounds. The last line is

    ratio_vs_torch=<x> ratio_vs_loop=<y> fraction_of_gemm_peak=<z> fastest=<name>

where ``fastest`` is the fastest from-scratch version (every one but ``torch.nn.RNN``), x
and y are time ratios (fastest / ``torch.nn.RNN``, fastest / ``split_loop``: lower is
faster) and z is its FLOP/s over the GEMM's FLOP/s. The FLOP count is that of the matrix
products the task needs (2 FLOP per multiply-add; elementwise work not counted; with
h_0 = 0 the step-1 recurrent products are not needed):

    forward  2 L N H H_in + 2 (L-1) N H^2          (input path, recurrence)
    backward 4 L N H H_in + 4 (L-1) N H^2          (dX and dW_xh; dh_{t-1} and dW_hh)
    total    6 L N H H_in + 6 (L-1) N H^2

and the benchmark checks it against ``torch.utils.flop_counter.FlopCounterMode`` run on
``fast_elman`` before timing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils import benchmark
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

from rnncourse.cells import concat_loop, indexed_hoisted_loop, split_loop
from rnncourse.elman import ElmanRNN
from rnncourse.fast_elman import fast_elman
from rnncourse.layouts import concat_weights, split_weights

__all__ = [
    "CONTENDERS",
    "BenchResult",
    "allocated_bytes",
    "contenders",
    "count_ops",
    "main",
    "rnn_flops",
    "run_benchmark",
    "time_interleaved",
]

# Large enough for the BLAS's steady rate: 2 * 2048**3 = 17.2 GFLOP per product, about 0.1 s at
# the 169-176 GFLOP/s that make bench measured on 2 cores (2026-12-01).
GEMM_SIZE = 2048
CONTENDERS = ("split_loop", "concat_loop", "ElmanRNN", "indexed_hoisted_loop", "fast_elman",
              "torch.nn.RNN")
Gradients = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")


def rnn_flops(L: int, N: int, H_in: int, H: int) -> int:
    """FLOP of the matrix products in one forward+backward with h_0 = 0 (see module doc)."""
    return 6 * L * N * H * H_in + 6 * (L - 1) * N * H * H


def contenders(
    N: int, L: int, H_in: int, H: int, *, seed: int = 0, dtype: torch.dtype = torch.float32
) -> dict[str, Callable[[], Gradients]]:
    """Every version of :data:`CONTENDERS` as a no-argument forward+backward job.

    All jobs share one set of weights (a ``torch.nn.RNN(H_in, H)`` initialised from
    ``seed``), one input x (L, N, H_in) and one fixed dLoss/dh_t (L, N, H). Each job runs
    the forward pass, backpropagates dLoss/dh_t and returns the gradients in one form,
    (dx (L, N, H_in), dW_xh (H, H_in), dW_hh (H, H), db_h (H,)), so that the versions can
    be checked against each other; x's gradient is computed too, as in a stacked network.

    Example:
        >>> jobs = contenders(2, 3, 4, 5, dtype=torch.float64)
        >>> grads = {name: job() for name, job in jobs.items()}
        >>> all(torch.allclose(a, b) for g in grads.values()
        ...     for a, b in zip(g, grads["torch.nn.RNN"], strict=True))
        True
    """
    for name, value in (("N", N), ("L", L), ("H_in", H_in), ("H", H)):
        _check_positive_int(name, value)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype: expected a floating torch.dtype, got {dtype!r}")
    generator = torch.Generator().manual_seed(seed)
    reference = nn.RNN(H_in, H, dtype=dtype)
    with torch.no_grad():  # PyTorch's default init, uniform(-1/sqrt(H), 1/sqrt(H)), seeded
        for p in reference.parameters():
            p.uniform_(-(H**-0.5), H**-0.5, generator=generator)
    model = ElmanRNN.from_torch(reference)  # W_xh, W_hh, b_h = bias_ih_l0 + bias_hh_l0
    W_xh, W_hh, b_h = model.W_xh, model.W_hh, model.b_h  # leaves: (H, H_in), (H, H), (H,)
    W_m = concat_weights(W_xh.detach(), W_hh.detach()).requires_grad_()  # (H, H_in + H)
    x = torch.randn(L, N, H_in, generator=generator, dtype=dtype, requires_grad=True)
    dloss = torch.randn(L, N, H, generator=generator, dtype=dtype)  # (L, N, H): dLoss/dh_t
    ours = (x, W_xh, W_hh, b_h)

    def run(forward: Callable[[], torch.Tensor], leaves: tuple[torch.Tensor, ...]
            ) -> tuple[torch.Tensor, ...]:
        for leaf in leaves:  # .backward(), not autograd.grad: FlopCounterMode's module
            leaf.grad = None  # hooks (for ElmanRNN, nn.RNN) need the ordinary backward
        forward().backward(dloss)
        return tuple(leaf.grad for leaf in leaves)

    def split_form(forward: Callable[[], torch.Tensor]) -> Callable[[], Gradients]:
        return lambda: run(forward, ours)

    def concat() -> Gradients:
        dx, dW_m, db_h = run(lambda: concat_loop(x, W_m, b_h), (x, W_m, b_h))
        return (dx, *split_weights(dW_m), db_h)

    def torch_rnn() -> Gradients:
        leaves = (x, reference.weight_ih_l0, reference.weight_hh_l0, reference.bias_ih_l0,
                  reference.bias_hh_l0)
        return run(lambda: reference(x)[0], leaves)[:4]  # dL/db_ih = dL/db_hh = dL/db_h

    return {
        "split_loop": split_form(lambda: split_loop(x, W_xh, W_hh, b_h)),
        "concat_loop": concat,
        "ElmanRNN": split_form(lambda: model(x)[0]),
        "indexed_hoisted_loop": split_form(lambda: indexed_hoisted_loop(x, W_xh, W_hh, b_h)),
        "fast_elman": split_form(lambda: fast_elman(x, W_xh, W_hh, b_h)),
        "torch.nn.RNN": torch_rnn,
    }


def time_interleaved(
    jobs: dict[str, Callable[[], object]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds of each job in each of ``rounds`` rounds, one measurement of every job per round.

    Each measurement is ``torch.utils.benchmark.Timer.timeit(1)`` (two untimed calls, then
    one timed) with the current number of threads. Interleaving spreads load from other
    processes over all jobs rather than onto one; ``warmup`` untimed rounds come first.
    """
    _check_positive_int("rounds", rounds)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup: expected a non-negative int, got {warmup!r}")
    timers = {name: benchmark.Timer(stmt="job()", globals={"job": job},
                                    num_threads=torch.get_num_threads())
              for name, job in jobs.items()}
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for round_ in range(warmup + rounds):
        for name, timer in timers.items():
            seconds = timer.timeit(1).median
            if round_ >= warmup:
                times[name].append(seconds)
    return times


class _OpCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        self.counts[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def count_ops(job: Callable[[], object]) -> Counter[str]:
    """How many times each ATen operator (``mm``, ``tanh``, ...) runs during ``job()``.

    Counts every kernel call PyTorch dispatches, the backward pass's included, so it shows
    how many small operations a piece of code costs, whatever the machine.
    """
    with _OpCounter() as counter:
        job()
    return counter.counts


class _ByteCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        out = func(*args, **(kwargs or {}))
        seen = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs))
                if isinstance(t, torch.Tensor)}
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in seen:
                seen.add(t.untyped_storage().data_ptr())  # a new buffer, not a view or in place
                self.total += t.untyped_storage().nbytes()
        return out


def allocated_bytes(job: Callable[[], object]) -> int:
    """Bytes of every new tensor buffer the operations of ``job()`` allocate (and fill).

    Views and in-place results share a buffer with an input and are not counted; buffers
    are counted when made, whether or not they are freed soon after, so this is the memory
    a computation writes, not its peak. The backward pass's buffers are included.
    """
    with _ByteCounter() as counter:
        job()
    return counter.total


@dataclass(frozen=True)
class BenchResult:
    """Median seconds of each contender and the derived ratios (lower ratio: faster)."""

    seconds: dict[str, float]
    flops: int
    gemm_flops_per_s: float

    @property
    def fastest(self) -> str:
        """The fastest from-scratch version (every contender but ``torch.nn.RNN``)."""
        return min((name for name in self.seconds if name != "torch.nn.RNN"),
                   key=self.seconds.__getitem__)

    @property
    def ratio_vs_torch(self) -> float:
        """Fastest from-scratch time over torch.nn.RNN's (below 1: faster)."""
        return self.seconds[self.fastest] / self.seconds["torch.nn.RNN"]

    @property
    def ratio_vs_loop(self) -> float:
        """Fastest from-scratch time over split_loop's (below 1: faster)."""
        return self.seconds[self.fastest] / self.seconds["split_loop"]

    @property
    def fraction_of_gemm_peak(self) -> float:
        """The fastest version's FLOP/s over the large GEMM's."""
        return self.flops / self.seconds[self.fastest] / self.gemm_flops_per_s

    def summary_line(self) -> str:
        """The last line of ``make bench``: ``ratio_vs_torch=.. ratio_vs_loop=.. ...``."""
        return (f"ratio_vs_torch={self.ratio_vs_torch:.3f} ratio_vs_loop={self.ratio_vs_loop:.3f} "
                f"fraction_of_gemm_peak={self.fraction_of_gemm_peak:.3f} fastest={self.fastest}")


def _counted_flops(run: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def run_benchmark(
    N: int = 64, L: int = 100, H_in: int = 128, H: int = 256, *, rounds: int = 15, warmup: int = 1,
    gemm_size: int = GEMM_SIZE, seed: int = 0,
) -> BenchResult:
    """Time every contender ``rounds`` times, interleaved, after ``warmup`` untimed rounds."""
    for name, value in (("N", N), ("L", L), ("H_in", H_in), ("H", H), ("rounds", rounds),
                        ("gemm_size", gemm_size)):
        _check_positive_int(name, value)
    jobs = contenders(N, L, H_in, H, seed=seed)
    flops = rnn_flops(L, N, H_in, H)
    counted = _counted_flops(jobs["fast_elman"])
    if counted != flops:  # the formula must describe what the code does
        raise RuntimeError(f"FLOP formula gives {flops}, FlopCounterMode counted {counted}")
    generator = torch.Generator().manual_seed(seed)
    A = torch.randn(gemm_size, gemm_size, generator=generator)  # (S, S)
    B = torch.randn(gemm_size, gemm_size, generator=generator)  # (S, S)
    times = time_interleaved({"gemm": lambda: A @ B, **jobs}, rounds, warmup)
    seconds = {name: statistics.median(ts) for name, ts in times.items()}
    gemm_rate = 2 * gemm_size**3 / seconds.pop("gemm")
    return BenchResult(seconds=seconds, flops=flops, gemm_flops_per_s=gemm_rate)


def main(argv: list[str] | None = None) -> int:
    """The ``make bench`` command line: print one line per contender, then the summary."""
    parser = argparse.ArgumentParser(prog="python -m rnncourse.bench",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (default 15)")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op threads for every contender, GEMM included "
                             "(default: PyTorch's, i.e. OMP_NUM_THREADS or the core count)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds: expected a positive int, got {args.rounds}")
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads: expected a positive int, got {args.threads}")
        torch.set_num_threads(args.threads)  # a command-line entry point: global state is ours
    N, L, H_in, H = 64, 100, 128, 256
    result = run_benchmark(N, L, H_in, H, rounds=args.rounds)
    print(f"Elman RNN forward+backward on CPU, float32, N={N} L={L} H_in={H_in} H={H}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"median of {args.rounds} interleaved rounds")
    print(f"FLOP = 6 L N H H_in + 6 (L-1) N H^2 = {result.flops / 1e9:.3f} GFLOP "
          f"(checked with FlopCounterMode)")
    gemm = f"GEMM {GEMM_SIZE}^3"
    print(f"{gemm:<28}{'':>10}  {result.gemm_flops_per_s / 1e9:7.1f} GFLOP/s")
    for name, sec in result.seconds.items():
        print(f"{name:<28}{sec * 1e3:8.2f} ms  {result.flops / sec / 1e9:7.1f} GFLOP/s")
    print(result.summary_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
