"""The benchmark: one list of contenders, a FLOP formula that counts what runs, the last line."""

import re

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from rnncourse import bench
from rnncourse.fast_elman import fast_elman

SUMMARY = re.compile(
    r"ratio_vs_torch=\d+\.\d{3} ratio_vs_loop=\d+\.\d{3} fraction_of_gemm_peak=\d+\.\d{3} "
    r"fastest=(split_loop|concat_loop|ElmanRNN|indexed_hoisted_loop|fast_elman)")


def test_public_names_are_pinned():
    assert bench.__all__ == ["CONTENDERS", "BenchResult", "allocated_bytes", "contenders",
                             "count_ops", "main", "rnn_flops", "run_benchmark", "time_interleaved"]


@pytest.mark.parametrize(("N", "L", "H_in", "H"), [(1, 1, 1, 1), (3, 7, 4, 5)])
def test_contenders_compute_the_same_gradients(N, L, H_in, H):
    """Every version returns (dx, dW_xh, dW_hh, db_h) equal to torch.nn.RNN's, in float64."""
    jobs = bench.contenders(N, L, H_in, H, seed=3, dtype=torch.float64)
    assert tuple(jobs) == bench.CONTENDERS
    reference = jobs["torch.nn.RNN"]()
    assert [tuple(g.shape) for g in reference] == [(L, N, H_in), (H, H_in), (H, H), (H,)]
    for name, job in jobs.items():
        for ours, theirs in zip(job(), reference, strict=True):
            torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12, msg=name)


def test_flop_counter_runs_on_every_contender():
    """FlopCounterMode (which hooks nn.Modules) counts every version within 2% of the formula."""
    formula = bench.rnn_flops(100, 3, 4, 5)  # long enough for step 1 to weigh < 2%
    for name, job in bench.contenders(3, 100, 4, 5).items():
        with FlopCounterMode(display=False) as counter:
            job()
        assert abs(counter.get_total_flops() / formula - 1) < 0.02, name


def test_contenders_are_seeded():
    """The same seed gives the same weights and data; another seed gives others."""
    def grads(seed):
        return bench.contenders(2, 3, 4, 5, seed=seed)["fast_elman"]()
    assert all(torch.equal(a, b) for a, b in zip(grads(1), grads(1), strict=True))
    assert not torch.equal(grads(1)[1], grads(2)[1])


def test_op_counts_order_the_versions():
    """fast_elman dispatches the fewest operations; xp[t] costs L select_backward calls."""
    L = 6
    counts = {name: bench.count_ops(job) for name, job in bench.contenders(2, L, 3, 4).items()}
    totals = {name: sum(c.values()) for name, c in counts.items()}
    assert min(totals, key=totals.get) == "fast_elman"
    assert totals["ElmanRNN"] < totals["concat_loop"] < totals["split_loop"]
    assert counts["indexed_hoisted_loop"]["select_backward"] == L
    assert counts["ElmanRNN"]["select_backward"] == 0


def test_allocated_bytes_counts_new_buffers_only():
    x = torch.zeros(10)
    assert bench.allocated_bytes(lambda: torch.ones(10)) == 40  # float32: 4 bytes each
    assert bench.allocated_bytes(lambda: (x.view(2, 5), x[3:], x.add_(1))) == 0  # views, in place
    assert bench.allocated_bytes(lambda: x.double() + 1) == 160


def test_indexing_pitfall_allocates_quadratically_in_L():
    """xp[t]'s backward allocates about 2 L (L N H) floats more than unbind's."""
    N, H_in, H = 2, 3, 4
    extra = {}
    for L in (10, 20):
        jobs = bench.contenders(N, L, H_in, H)
        extra[L] = (bench.allocated_bytes(jobs["indexed_hoisted_loop"])
                    - bench.allocated_bytes(jobs["ElmanRNN"]))
        assert 1.5 * L * (L * N * H) * 4 < extra[L] < 2.5 * L * (L * N * H) * 4
    assert 3.5 < extra[20] / extra[10] < 4.5


def test_time_interleaved_gives_rounds_per_job():
    calls = []
    times = bench.time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                                   rounds=2, warmup=1)
    assert {name: len(ts) for name, ts in times.items()} == {"a": 2, "b": 2}
    assert all(t > 0 for ts in times.values() for t in ts)
    assert calls[:3] == ["a", "a", "a"]  # timeit(1): two warm-up calls, one timed
    assert calls[3:6] == ["b", "b", "b"]


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
    """A tiny run returns positive times for every contender and a well-formed line."""
    result = bench.run_benchmark(4, 5, 3, 6, rounds=2, warmup=1, gemm_size=64)
    assert tuple(result.seconds) == bench.CONTENDERS
    assert all(s > 0 for s in result.seconds.values())
    assert result.flops == bench.rnn_flops(5, 4, 3, 6)
    assert SUMMARY.fullmatch(result.summary_line())
    assert result.fastest != "torch.nn.RNN"
    fastest = result.seconds[result.fastest]
    assert all(fastest <= s for name, s in result.seconds.items() if name != "torch.nn.RNN")
    assert result.ratio_vs_torch == fastest / result.seconds["torch.nn.RNN"]


def test_summary_line_names_the_fastest_from_scratch_version():
    seconds = dict.fromkeys(bench.CONTENDERS, 4.0) | {"ElmanRNN": 2.0, "torch.nn.RNN": 1.0}
    result = bench.BenchResult(seconds=seconds, flops=10, gemm_flops_per_s=20.0)
    assert result.summary_line() == ("ratio_vs_torch=2.000 ratio_vs_loop=0.500 "
                                     "fraction_of_gemm_peak=0.250 fastest=ElmanRNN")


def test_main_prints_the_summary_as_last_line(capsys):
    """python -m rnncourse.bench ends with ratio_vs_torch=.. ratio_vs_loop=.. ... fastest=.."""
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
    with pytest.raises(ValueError, match=r"^H: expected a positive int, got 2.0$"):
        bench.contenders(4, 3, 3, 2.0)
    with pytest.raises(ValueError, match=r"^seed: expected a non-negative int, got -1$"):
        bench.contenders(4, 3, 3, 2, seed=-1)
    with pytest.raises(ValueError,
                       match=r"^dtype: expected a floating torch.dtype, got torch.int64$"):
        bench.contenders(4, 3, 3, 2, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"^rounds: expected a positive int, got 0$"):
        bench.time_interleaved({}, rounds=0)
