"""The benchmark: its FLOP formula counts what the code does, and its last line has the agreed form."""

import re

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from rnncourse import bench
from rnncourse.fast_elman import fast_elman

SUMMARY = re.compile(
    r"ratio_vs_torch=\d+\.\d{3} ratio_vs_loop=\d+\.\d{3} fraction_of_gemm_peak=\d+\.\d{3}")


@pytest.mark.parametrize(("L", "N", "H_in", "H"), [(1, 2, 3, 4), (7, 3, 5, 2), (100, 64, 128, 256)])
def test_flop_formula_matches_flop_counter(L, N, H_in, H):
    """6 L N H H_in + 6 (L-1) N H^2 is what FlopCounterMode counts for fast_elman fwd+bwd."""
    x = torch.randn(L, N, H_in, requires_grad=True)
    weights = [torch.randn(H, H_in), torch.randn(H, H), torch.randn(H)]
    for w in weights:
        w.requires_grad_()
    with FlopCounterMode(display=False) as counter:
        fast_elman(x, *weights).backward(torch.randn(L, N, H))
    assert counter.get_total_flops() == bench.rnn_flops(L, N, H_in, H)


def test_run_benchmark_small():
    """A tiny run returns positive times for the four contenders and a well-formed line."""
    result = bench.run_benchmark(4, 5, 3, 6, rounds=2, warmup=1, gemm_size=64)
    assert set(result.seconds) == {"fast_elman", "torch.nn.RNN", "split_loop",
                                   "fast_elman, Python loops"}
    assert all(s > 0 for s in result.seconds.values())
    assert result.flops == bench.rnn_flops(5, 4, 3, 6)
    assert SUMMARY.fullmatch(result.summary_line())


def test_main_prints_the_summary_as_last_line(capsys):
    """python -m rnncourse.bench ends with exactly ratio_vs_torch=.. ratio_vs_loop=.. fraction_.."""
    assert bench.main(["--rounds", "1"]) == 0
    last = capsys.readouterr().out.rstrip("\n").split("\n")[-1]
    assert SUMMARY.fullmatch(last), last


def test_threads_must_be_positive(capsys):
    """--threads 0 is refused by the command line before anything runs."""
    with pytest.raises(SystemExit) as info:
        bench.main(["--threads", "0"])
    assert info.value.code == 2
    assert "--threads: expected a positive int, got 0" in capsys.readouterr().err


def test_bad_sizes_raise_value_error():
    with pytest.raises(ValueError, match=r"^L: expected a positive int, got 0$"):
        bench.run_benchmark(4, 0, 3, 6)
