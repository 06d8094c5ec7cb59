"""Benchmark: the course's fastest from-scratch RNN against torch.nn.RNN and a plain loop.

Run ``python -m rnncourse.bench`` (or ``make bench``). Chapter 3's performance lab explains
the numbers. One forward and backward pass of a one-layer tanh RNN, CPU, float32,

    N = 64 sequences, L = 100 steps, H_in = 128 inputs, H = 256 hidden units, h_0 = 0,

timed for three implementations that compute the same function and the same gradients
(with respect to x and every parameter):

* ``fast_elman`` (:mod:`rnncourse.fast_elman`): hoisted input projection, hand-written
  backward with one large product per weight gradient, and its two serial loops compiled
  with the batch sharded across cores (:mod:`rnncourse.sharded_recurrence`; the Python
  loops if the C++ cannot be built here, and the first line says which ran);
* ``torch.nn.RNN``;
* ``split_loop`` (:mod:`rnncourse.cells`): the plain per-step loop, two matmuls a step,
  differentiated by autograd;
* ``fast_elman, Python loops``: ``fast_elman(..., compiled=False)``, to show what the
  compiled, sharded loops add.

A large matrix product (2048 x 2048 by 2048 x 2048) is timed in the same run, with the
same number of threads (``--threads``; default PyTorch's, i.e. ``OMP_NUM_THREADS`` or the
core count), to estimate what this machine's BLAS reaches. Rounds are interleaved (one of each per round) so that
load from other processes hits every contender alike; each figure is the median over
rounds. The last line is

    ratio_vs_torch=<x> ratio_vs_loop=<y> fraction_of_gemm_peak=<z>

x and y are time ratios (fast_elman / other: lower is faster); z is fast_elman's FLOP/s
over the GEMM's FLOP/s. The FLOP count is that of the matrix products the task needs
(2 FLOP per multiply-add; elementwise work not counted; with h_0 = 0 the step-1
recurrent products are not needed):

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
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from rnncourse import sharded_recurrence
from rnncourse.cells import split_loop
from rnncourse.fast_elman import fast_elman

__all__ = ["BenchResult", "count_ops", "main", "rnn_flops", "run_benchmark", "time_interleaved"]

GEMM_SIZE = 2048  # large enough for MKL to reach its steady rate, ~70 ms on 2 cores


def rnn_flops(L: int, N: int, H_in: int, H: int) -> int:
    """FLOP of the matrix products in one forward+backward with h_0 = 0 (see module doc)."""
    return 6 * L * N * H * H_in + 6 * (L - 1) * N * H * H


def time_interleaved(
    jobs: dict[str, Callable[[], object]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds of each job in each of ``rounds`` rounds, one run of every job per round.

    Interleaving spreads load from other processes over all jobs alike; ``warmup`` untimed
    rounds come first (first calls pay for allocation and thread start-up).
    """
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for round_ in range(warmup + rounds):
        for name, job in jobs.items():
            start = time.perf_counter()
            job()
            elapsed = time.perf_counter() - start
            if round_ >= warmup:
                times[name].append(elapsed)
    return times


class _OpCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
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


@dataclass(frozen=True)
class BenchResult:
    """Median seconds of each contender and the derived ratios (lower ratio: faster)."""

    seconds: dict[str, float]
    flops: int
    gemm_flops_per_s: float

    @property
    def ratio_vs_torch(self) -> float:
        return self.seconds["fast_elman"] / self.seconds["torch.nn.RNN"]

    @property
    def ratio_vs_loop(self) -> float:
        return self.seconds["fast_elman"] / self.seconds["split_loop"]

    @property
    def fraction_of_gemm_peak(self) -> float:
        return self.flops / self.seconds["fast_elman"] / self.gemm_flops_per_s

    def summary_line(self) -> str:
        return (f"ratio_vs_torch={self.ratio_vs_torch:.3f} ratio_vs_loop={self.ratio_vs_loop:.3f} "
                f"fraction_of_gemm_peak={self.fraction_of_gemm_peak:.3f}")


def _contenders(
    N: int, L: int, H_in: int, H: int, generator: torch.Generator
) -> tuple[dict[str, Callable[[], object]], Callable[[], torch.Tensor]]:
    """The three RNNs, each as a no-argument forward+backward, and fast_elman's forward."""
    rnn = nn.RNN(H_in, H)  # float32, the same weights for every contender
    with torch.no_grad():
        for p in rnn.parameters():
            p.uniform_(-H**-0.5, H**-0.5, generator=generator)
    W_xh = rnn.weight_ih_l0.detach().clone().requires_grad_()  # (H, H_in)
    W_hh = rnn.weight_hh_l0.detach().clone().requires_grad_()  # (H, H)
    b_h = (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach().requires_grad_()  # (H,)
    x = torch.randn(L, N, H_in, generator=generator, requires_grad=True)  # (L, N, H_in)
    grad_out = torch.randn(L, N, H, generator=generator)  # (L, N, H): dLoss/dh_t, fixed
    ours = [x, W_xh, W_hh, b_h]
    theirs = [x, *rnn.parameters()]

    def fast() -> object:
        return torch.autograd.grad(fast_elman(x, W_xh, W_hh, b_h), ours, grad_out)

    def torch_rnn() -> object:
        return torch.autograd.grad(rnn(x)[0], theirs, grad_out)

    def loop() -> object:
        return torch.autograd.grad(split_loop(x, W_xh, W_hh, b_h), ours, grad_out)

    def fast_python() -> object:
        return torch.autograd.grad(fast_elman(x, W_xh, W_hh, b_h, compiled=False), ours, grad_out)

    contenders = {"fast_elman": fast, "torch.nn.RNN": torch_rnn, "split_loop": loop,
                  "fast_elman, Python loops": fast_python}
    return contenders, lambda: fast_elman(x, W_xh, W_hh, b_h).backward(grad_out)


def _counted_flops(run: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def run_benchmark(
    N: int = 64, L: int = 100, H_in: int = 128, H: int = 256, *, rounds: int = 15, warmup: int = 3,
    gemm_size: int = GEMM_SIZE, seed: int = 0,
) -> BenchResult:
    """Time every contender ``rounds`` times, interleaved, after ``warmup`` untimed rounds."""
    for name, value in (("N", N), ("L", L), ("H_in", H_in), ("H", H), ("rounds", rounds),
                        ("gemm_size", gemm_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive int, got {value!r}")
    generator = torch.Generator().manual_seed(seed)
    contenders, fast_backward = _contenders(N, L, H_in, H, generator)
    flops = rnn_flops(L, N, H_in, H)
    counted = _counted_flops(fast_backward)
    if counted != flops:  # the formula must describe what the code does
        raise RuntimeError(f"FLOP formula gives {flops}, FlopCounterMode counted {counted}")
    A = torch.randn(gemm_size, gemm_size, generator=generator)  # (S, S)
    B = torch.randn(gemm_size, gemm_size, generator=generator)  # (S, S)
    times = time_interleaved({"gemm": lambda: A @ B, **contenders}, rounds, warmup)
    seconds = {name: statistics.median(ts) for name, ts in times.items()}
    gemm_rate = 2 * gemm_size**3 / seconds.pop("gemm")
    return BenchResult(seconds=seconds, flops=flops, gemm_flops_per_s=gemm_rate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rnncourse.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (default 15)")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op threads for every contender, GEMM included "
                             "(default: PyTorch's, i.e. OMP_NUM_THREADS or the core count)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads: expected a positive int, got {args.threads}")
        torch.set_num_threads(args.threads)  # a command-line entry point: global state is ours
    N, L, H_in, H = 64, 100, 128, 256
    result = run_benchmark(N, L, H_in, H, rounds=args.rounds)
    print(f"Elman RNN forward+backward on CPU, float32, N={N} L={L} H_in={H_in} H={H}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"median of {args.rounds} interleaved rounds")
    if sharded_recurrence.available():
        module = sharded_recurrence.load()
        loops = (f"compiled, batch cut into {module.shards_for(N)} shard(s), "
                 f"float32 tanh: {module.float_tanh()}")
    else:
        loops = f"Python (compiled unavailable: {sharded_recurrence.unavailable_reason()})"
    print(f"fast_elman's serial loops: {loops}")
    print(f"FLOP = 6 L N H H_in + 6 (L-1) N H^2 = {result.flops / 1e9:.3f} GFLOP "
          f"(checked with FlopCounterMode)")
    print(f"{'GEMM ' + str(GEMM_SIZE) + '^3':<28}{'':>10}  {result.gemm_flops_per_s / 1e9:7.1f} GFLOP/s")
    for name, sec in result.seconds.items():
        print(f"{name:<28}{sec * 1e3:8.2f} ms  {result.flops / sec / 1e9:7.1f} GFLOP/s")
    print(result.summary_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
