"""The compiled, batch-sharded loops (rnncourse/csrc/sharded_recurrence.cpp) behind fast_elman.

They must give the Python loops' numbers for any batch size and any number of threads
(shards), leave the thread count as it was, and fall back cleanly where they cannot be
built. On a machine with a C++ compiler they must build: a silent fallback would hide a
slow path behind a green test run.
"""

import shutil
import warnings

import pytest
import torch

import rnncourse.fast_elman as fast_module
import rnncourse.sharded_recurrence as sharded
from rnncourse.bench import count_ops
from rnncourse.fast_elman import fast_elman

needs_compiler = pytest.mark.skipif(shutil.which("c++") is None, reason="no C++ compiler here")


@pytest.fixture
def threads():
    """Set torch's intra-op thread count for one test, then put it back."""
    saved = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(saved)


def _problem(L, N, H_in, H, dtype, seed=0, with_h0=True):
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=1.0):
        return (scale * torch.randn(*shape, generator=g, dtype=dtype)).requires_grad_()

    args = [rand(L, N, H_in), rand(H, H_in), rand(H, H, scale=H**-0.5), rand(H)]
    h_0 = rand(N, H) if with_h0 else None
    return args, h_0, torch.randn(L, N, H, generator=g, dtype=dtype)


def _run(args, h_0, grad_out, compiled):
    out = fast_elman(*args, h_0, compiled=compiled)
    inputs = args + ([h_0] if h_0 is not None else [])
    return [out.detach(), *torch.autograd.grad(out, inputs, grad_out)]


@needs_compiler
def test_builds_and_loads_here():
    assert sharded.available(), sharded.unavailable_reason()
    assert sharded.unavailable_reason() is None


@needs_compiler
@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("N", [1, 2, 5, 64])
@pytest.mark.parametrize("with_h0", [False, True])
def test_same_numbers_as_python_loops_for_any_shards(threads, n_threads, N, with_h0):
    """Outputs and every gradient equal the Python loops' (float64, to 1e-12), whether the
    batch is cut into 1, 2 or 3 shards, or into fewer because N is smaller."""
    threads(n_threads)
    problem = _problem(L=7, N=N, H_in=3, H=6, dtype=torch.float64, with_h0=with_h0)
    compiled, python = _run(*problem, compiled=True), _run(*problem, compiled=False)
    for ours, theirs in zip(compiled, python, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)


@needs_compiler
@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("N", [1, 2, 5, 64])
def test_float32_packed_weights_same_numbers(threads, n_threads, N):
    """float32 takes MKL's packed-weight product (packed once per shard) and SLEEF's tanh:
    the Python loops' numbers to float32 rounding, for shards of 1 to 64 rows, with h_0."""
    threads(n_threads)
    problem = _problem(L=6, N=N, H_in=3, H=5, dtype=torch.float32)
    for ours, theirs in zip(_run(*problem, compiled=True), _run(*problem, compiled=False),
                            strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)


@needs_compiler
def test_float32_at_benchmark_width(threads):
    """float32, two shards, the benchmark's widths (shorter L): same as the Python loops."""
    threads(2)
    problem = _problem(L=10, N=64, H_in=128, H=256, dtype=torch.float32)
    for ours, theirs in zip(_run(*problem, compiled=True), _run(*problem, compiled=False),
                            strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


@needs_compiler
def test_gradcheck_with_two_shards(threads):
    threads(2)
    args, h_0, _ = _problem(L=4, N=3, H_in=2, H=4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda *a: fast_elman(*a, compiled=True), (*args, h_0))


@needs_compiler
def test_shard_count_follows_threads_and_batch(threads):
    module = sharded.load()
    threads(2)
    assert (module.shards_for(64), module.shards_for(1)) == (2, 1)
    threads(3)
    assert (module.shards_for(64), module.shards_for(2)) == (3, 2)


@needs_compiler
def test_thread_counts_and_grad_mode_are_left_alone(threads):
    """The loops tell MKL to use one thread per core inside their parallel region; after
    the call, this thread's MKL, PyTorch's thread count and grad mode are as before."""
    threads(2)
    module = sharded.load()
    blas_before = module.blas_threads()
    args, h_0, grad_out = _problem(L=5, N=4, H_in=3, H=4, dtype=torch.float32)
    _run(args, h_0, grad_out, compiled=True)
    assert torch.get_num_threads() == 2
    assert module.blas_threads() == blas_before
    assert blas_before in (-1, 2)  # -1: a PyTorch built without MKL
    assert torch.is_grad_enabled()


@needs_compiler
def test_under_a_dispatch_mode_the_python_loops_run():
    """Op counters see the loops' every operation: the same ops whichever loops run."""
    args, h_0, grad_out = _problem(L=6, N=2, H_in=3, H=4, dtype=torch.float32)

    def job(compiled):
        return lambda: _run(args, h_0, grad_out, compiled)

    counted = count_ops(job(None))
    assert counted == count_ops(job(False))
    assert counted["addmm"] >= 2 * 6  # one per step in each direction, plus the input path


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as info:
            return next((line.split(":")[1].split() for line in info if line.startswith("flags")), [])
    except OSError:
        return []


def _tanh_kernels():
    """The float32 tanh kernels this machine can run, widest first."""
    flags = _cpu_flags()
    wanted = [("sleef-avx512", "avx512f" in flags), ("sleef-avx2", "avx2" in flags and "fma" in flags)]
    return [name for name, ok in wanted if ok] + ["aten"]


@pytest.fixture
def float_tanh():
    """Choose the compiled forward loop's float32 tanh for one test, then put it back."""
    module = sharded.load()
    saved = module.float_tanh()
    yield module.set_float_tanh
    module.set_float_tanh(saved)


@needs_compiler
def test_float32_tanh_is_the_vectorised_one_where_the_cpu_has_it():
    """On an AVX2 or AVX-512 CPU the float32 forward loop must not fall back to at::tanh_
    (MKL's vsTanh, slow on some CPUs): that would hide a slow path behind green tests."""
    assert sharded.load().float_tanh() == _tanh_kernels()[0]


def _tanh_values():
    """float32 inputs for tanh: a dense sweep, the tiny, the huge, and the special values."""
    sweep = torch.linspace(-12, 12, 48_001, dtype=torch.float32)
    tiny = torch.tensor([1e-38, 1e-30, 1e-10, 1e-4, 2.0**-149], dtype=torch.float32)
    special = torch.tensor([0.0, 1e30, 3.4e38, float("inf"), float("nan")], dtype=torch.float32)
    return torch.cat([sweep, tiny, -tiny, special, -special])


@needs_compiler
@pytest.mark.parametrize("n", [1, 7, 15, 16, 17, 31, 33, 1000, None])
def test_float32_tanh_kernels_within_one_ulp(float_tanh, n):
    """Every float32 tanh kernel gives tanh to within 1 ulp of the float64 value rounded to
    float32, keeps -0.0, maps +-inf to +-1 and NaN to NaN, for lengths that are and are not
    multiples of the vector width."""
    values = _tanh_values()
    if n is not None:
        values = values[torch.randperm(len(values), generator=torch.Generator().manual_seed(n))[:n]]
    exact = torch.tanh(values.double()).float()  # correctly rounded but for double rounding
    ulp = torch.nextafter(exact.abs(), torch.tensor(2.0)) - exact.abs()
    for kernel in _tanh_kernels():
        float_tanh(kernel)
        out = values.clone()
        sharded.load().tanh_(out)
        finite = exact.isfinite()
        assert torch.all((out - exact)[finite].abs() <= ulp[finite]), kernel
        assert torch.equal(out.isnan(), values.isnan()), kernel
        assert torch.equal(out[finite].signbit(), exact[finite].signbit()), kernel


@needs_compiler
@pytest.mark.parametrize("N, H", [(5, 3), (3, 17), (64, 256)])
def test_float32_tanh_kernels_touch_only_their_shard(threads, float_tanh, N, H):
    """With 2 shards whose row blocks are not multiples of the vector width, each kernel's
    masked tail writes no float outside its block: the result is the same for every kernel
    up to 1 ulp, and is tanh of the input (L = 1: the forward loop only applies tanh)."""
    threads(2)
    p = torch.randn(1, N, H, generator=torch.Generator().manual_seed(N))
    expected = torch.tanh(p.double()).float()
    for kernel in _tanh_kernels():
        float_tanh(kernel)
        out = p.clone()
        sharded.load().forward_chain(out, torch.zeros(H, H), None)
        torch.testing.assert_close(out, expected, rtol=1.2e-7, atol=0)


@needs_compiler
def test_tanh_in_float64_is_atens(float_tanh):
    """Only float32 takes SLEEF: in float64 the loops' tanh is at::tanh_, bit for bit."""
    x = torch.randn(1000, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for kernel in _tanh_kernels():
        float_tanh(kernel)
        out = x.clone()
        sharded.load().tanh_(out)
        assert torch.equal(out, torch.tanh(x)), kernel


@needs_compiler
def test_tanh_rejects_what_it_cannot_rewrite_in_place():
    with pytest.raises(ValueError, match="expected a contiguous floating-point CPU tensor, got Long"):
        sharded.load().tanh_(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="not contiguous"):
        sharded.load().tanh_(torch.zeros(3, 4).T)


@needs_compiler
def test_set_float_tanh_names_the_choices():
    with pytest.raises(ValueError, match="expected 'sleef-avx512', 'sleef-avx2' or 'aten', got 'fast'"):
        sharded.load().set_float_tanh("fast")


def test_fallback_when_it_cannot_be_built(monkeypatch, tmp_path):
    """No compiler: one warning naming the cause, then the Python loops give the numbers."""
    monkeypatch.setattr(sharded, "_module", None)
    monkeypatch.setattr(sharded, "_error", None)
    monkeypatch.setenv("RNNCOURSE_BUILD_DIR", str(tmp_path))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    with pytest.warns(UserWarning, match="could not be built"):
        assert sharded.load() is None
    assert sharded.unavailable_reason()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once, not on every call
        assert not sharded.available()
    problem = _problem(L=5, N=3, H_in=2, H=4, dtype=torch.float64)
    for ours, theirs in zip(_run(*problem, compiled=None), _run(*problem, compiled=False),
                            strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="compiled=True, but the compiled recurrence loops"):
        _run(*problem, compiled=True)


def test_loops_are_the_python_ones_when_asked():
    x = torch.zeros(2, 1, 1)
    assert fast_module._loops(False, x) == (fast_module.forward_loop, fast_module.backward_loop)
