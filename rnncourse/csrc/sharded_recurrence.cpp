// The two serial loops of rnncourse.fast_elman, compiled, with the batch sharded across cores.
//
// Chapter 3 (performance lab) explains why. The recurrence
//
//     h_t = tanh(p_t + h_{t-1} W_hh^T),        p_t = x_t W_xh^T + b_h (computed before),
//
// is serial in t but independent across the N sequences of a batch. The Python loops hand
// each step's small (N, H) x (H, H) product to the BLAS, which cuts it over the cores and
// makes them wait for each other at the end of every product: 2(L-1) times per forward and
// backward pass. Here the batch is cut instead: each core takes a contiguous block of rows
// (its shard) and carries it through all L steps on its own, calling the same ATen
// operations as the Python loops on its rows. One parallel region per loop, so the cores
// meet once, at the end. The numbers are those of the Python loops (in float32 up to the
// last bit of tanh, below): row i of a product does not depend on the other rows. In
// float32 with MKL, each core also packs W_hh once per loop into the layout MKL's kernel
// reads (MKL's packed GEMM) instead of MKL repacking it at every step: the weights stay put
// while the states stream through, as in persistent RNN kernels. Same kernel, same
// numbers; a few percent faster.
//
// tanh: in PyTorch's MKL builds ATen's tanh is MKL's vsTanh, which takes a slow code path
// on some CPUs (an AMD EPYC host: 18 us for 8192 floats, against 2.6 us for ATen's own
// vectorised sigmoid). In float32 the forward loop therefore applies SLEEF's vectorised
// tanh (error at most 1 ulp; what ATen calls where it is built without MKL), which
// libtorch exports: it differs from at::tanh_ in the last bit of about 1% of values. In
// float64, or without SLEEF or AVX2, the loop calls at::tanh_.
//
// Shapes (all contiguous, one floating dtype, CPU; rnncourse/fast_elman.py checks them):
//   out, dz, g, hs (L, N, H);  W_hh (H, H);  h_0 (N, H) or None for zeros.

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <string>

// MKL's C interface, which PyTorch's MKL builds export; weak, so that the module still
// loads against a PyTorch built with another BLAS (then the pointer is null).
extern "C" int MKL_Set_Num_Threads_Local(int nthreads) __attribute__((weak));
extern "C" int MKL_Get_Max_Threads() __attribute__((weak));
extern "C" size_t cblas_sgemm_pack_get_size(int identifier, int m, int n, int k)
    __attribute__((weak));
extern "C" void cblas_sgemm_pack(int layout, int identifier, int trans, int m, int n, int k,
                                 float alpha, const float* src, int ld, float* dest)
    __attribute__((weak));
extern "C" void cblas_sgemm_compute(int layout, int transa, int transb, int m, int n, int k,
                                    const float* a, int lda, const float* b, int ldb, float beta,
                                    float* c, int ldc) __attribute__((weak));
enum CblasConstant { kRowMajor = 101, kNoTrans = 111, kTrans = 112, kPacked = 151, kBMatrix = 162 };

// SLEEF's float tanh (max error 1.0 ulp), 16 and 8 lanes; weak, as above.
extern "C" __m512 Sleef_tanhf16_u10avx512f(__m512) __attribute__((weak));
extern "C" __m256 Sleef_tanhf8_u10avx2(__m256) __attribute__((weak));

namespace {

// While alive, MKL runs this thread's products on this thread alone. Inside the parallel
// region every core already has its shard; left alone, MKL would open a nested (one-thread)
// team on every call, which made each step's product about 1.5 times slower here.
class OneThreadBlas {
 public:
  OneThreadBlas() : saved_(MKL_Set_Num_Threads_Local ? MKL_Set_Num_Threads_Local(1) : 0) {}
  ~OneThreadBlas() {
    if (MKL_Set_Num_Threads_Local) MKL_Set_Num_Threads_Local(saved_);  // 0: back to global
  }
  OneThreadBlas(const OneThreadBlas&) = delete;
  OneThreadBlas& operator=(const OneThreadBlas&) = delete;

 private:
  int saved_;
};

// y = tanh(y) for n contiguous floats, 16 lanes at a time, the tail through a mask.
__attribute__((target("avx512f"))) void tanh_avx512(float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(y + i, Sleef_tanhf16_u10avx512f(_mm512_loadu_ps(y + i)));
  }
  if (i < n) {
    const __mmask16 tail = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(y + i, tail, Sleef_tanhf16_u10avx512f(_mm512_maskz_loadu_ps(tail, y + i)));
  }
}

// The same with 8 lanes; the tail goes through a zero-padded copy.
__attribute__((target("avx2"))) void tanh_avx2(float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, Sleef_tanhf8_u10avx2(_mm256_loadu_ps(y + i)));
  }
  if (i < n) {
    alignas(32) float tail[8] = {};
    std::copy(y + i, y + n, tail);
    _mm256_store_ps(tail, Sleef_tanhf8_u10avx2(_mm256_load_ps(tail)));
    std::copy(tail, tail + (n - i), y + i);
  }
}

enum class TanhKernel { kAten, kAvx2, kAvx512 };
constexpr TanhKernel kTanhKernels[] = {TanhKernel::kAvx512, TanhKernel::kAvx2, TanhKernel::kAten};

bool supported(TanhKernel kernel) {
  switch (kernel) {
    case TanhKernel::kAvx512:
      return Sleef_tanhf16_u10avx512f && __builtin_cpu_supports("avx512f");
    case TanhKernel::kAvx2:
      return Sleef_tanhf8_u10avx2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
      return true;
  }
}

const char* name_of(TanhKernel kernel) {
  switch (kernel) {
    case TanhKernel::kAvx512:
      return "sleef-avx512";
    case TanhKernel::kAvx2:
      return "sleef-avx2";
    default:
      return "aten";
  }
}

// The widest kernel this CPU and this libtorch support (kAten always is); set_float_tanh
// changes it (tests).
TanhKernel best_tanh_kernel() {
  for (TanhKernel kernel : kTanhKernels) {
    if (supported(kernel)) return kernel;
  }
  return TanhKernel::kAten;
}
std::atomic<TanhKernel> float_tanh_kernel{best_tanh_kernel()};

// h = tanh(h) in place, h a contiguous row block: SLEEF in float32 where it can, else ATen.
void tanh_in_place(at::Tensor& h) {
  if (h.scalar_type() == at::kFloat && h.is_contiguous()) {
    switch (float_tanh_kernel.load(std::memory_order_relaxed)) {
      case TanhKernel::kAvx512:
        return tanh_avx512(h.data_ptr<float>(), h.numel());
      case TanhKernel::kAvx2:
        return tanh_avx2(h.data_ptr<float>(), h.numel());
      case TanhKernel::kAten:
        break;
    }
  }
  h.tanh_();
}

// Which tanh the float32 forward loop applies: "sleef-avx512", "sleef-avx2" or "aten".
std::string float_tanh() { return name_of(float_tanh_kernel.load()); }

// Make the float32 forward loop apply the named tanh (one of kTanhKernels, if this machine
// supports it); returns the previous name. For tests of each kernel.
std::string set_float_tanh(const std::string& name) {
  std::string choices;  // 'a', 'b' or 'c'
  for (TanhKernel kernel : kTanhKernels) {
    if (name == name_of(kernel)) {
      TORCH_CHECK_VALUE(supported(kernel), "set_float_tanh: ", name, " is not supported here");
      return name_of(float_tanh_kernel.exchange(kernel));
    }
    const char* separator = choices.empty() ? "" : kernel == TanhKernel::kAten ? " or " : ", ";
    choices += separator + ("'" + std::string(name_of(kernel)) + "'");
  }
  TORCH_CHECK_VALUE(false, "set_float_tanh: expected ", choices, ", got '", name, "'");
  return "";
}

// One shard per intra-op thread (torch.get_num_threads()), but never more shards than rows.
int64_t num_shards(int64_t N) {
  return std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), N));
}

// Call body(a, b) once per shard, rows [a, b) of the batch, the shards in parallel.
template <typename Body>
void for_each_shard(int64_t N, const Body& body) {
  const int64_t shards = num_shards(N);
  at::parallel_for(0, shards, /*grain_size=*/1, [&](int64_t first, int64_t last) {
    at::NoGradGuard no_grad;  // grad mode is per thread, and on in a fresh worker thread
    OneThreadBlas one_thread_blas;
    for (int64_t s = first; s < last; ++s) {
      body(s * N / shards, (s + 1) * N / shards);
    }
  });
}

// One shard's product with W_hh, C += A op(W_hh) for (m, H) row blocks A and C, where
// op(W_hh) is W_hh^T (forward) or W_hh (backward). In float32 with MKL, W_hh is packed
// once, here; otherwise each call is at::addmm_out on op(W_hh) stored contiguously.
class RecurrentProduct {
 public:
  RecurrentProduct(const at::Tensor& W_hh, bool transpose, int64_t m) : m_(m) {
    const int64_t H = W_hh.size(0);
    packed_ = W_hh.scalar_type() == at::kFloat && cblas_sgemm_pack_get_size && cblas_sgemm_pack &&
              cblas_sgemm_compute;
    if (packed_) {
      const size_t bytes = cblas_sgemm_pack_get_size(kBMatrix, m, H, H);
      weights_ = at::empty({static_cast<int64_t>(bytes / sizeof(float)) + 1}, W_hh.options());
      cblas_sgemm_pack(kRowMajor, kBMatrix, transpose ? kTrans : kNoTrans, m, H, H, 1.0f,
                       W_hh.data_ptr<float>(), H, weights_.data_ptr<float>());
    } else {
      weights_ = transpose ? W_hh.t().contiguous() : W_hh;  // (H, H), op(W_hh)
    }
  }

  // c += a op(W_hh); a and c are (m, H) row blocks, contiguous.
  void multiply_add(const at::Tensor& a, at::Tensor& c) const {
    if (packed_) {
      const int H = static_cast<int>(c.size(1));
      cblas_sgemm_compute(kRowMajor, kNoTrans, kPacked, m_, H, H, a.data_ptr<float>(), H,
                          weights_.data_ptr<float>(), H, 1.0f, c.data_ptr<float>(), H);
    } else {
      at::addmm_out(c, c, a, weights_);
    }
  }

 private:
  int m_;
  bool packed_;
  at::Tensor weights_;
};

void check_3d(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.dim() == 3 && t.is_contiguous() && t.device().is_cpu(), name,
              ": expected a contiguous (L, N, H) CPU tensor, got sizes ", t.sizes());
}

}  // namespace

// Forward loop. out holds p_1..p_L on entry and h_1..h_L on return, written in place.
void forward_chain(at::Tensor out, const at::Tensor& W_hh, const std::optional<at::Tensor>& h_0) {
  check_3d(out, "out");
  TORCH_CHECK(W_hh.is_contiguous(), "W_hh: expected a contiguous (H, H) tensor");
  const int64_t L = out.size(0), N = out.size(1);
  for_each_shard(N, [&](int64_t a, int64_t b) {
    const RecurrentProduct times_W_hh_T(W_hh, /*transpose=*/true, b - a);
    at::Tensor h = out[0].slice(0, a, b);  // (b - a, H): p_1, then h_1, of this shard
    if (h_0.has_value()) {
      times_W_hh_T.multiply_add(h_0->slice(0, a, b), h);  // p_1 + h_0 W_hh^T
    }
    tanh_in_place(h);
    for (int64_t t = 1; t < L; ++t) {
      at::Tensor next = out[t].slice(0, a, b);  // (b - a, H): p_{t+1}
      times_W_hh_T.multiply_add(h, next);      // p_{t+1} + h_t W_hh^T, in place
      tanh_in_place(next);                      // h_{t+1}
      h = next;
    }
  });
}

// Backward loop: dz_t = dLoss/d(pre-activation at step t), for t = L..1,
//     dz_L = g_L * (1 - h_L^2),    dz_t = (g_t + dz_{t+1} W_hh) * (1 - h_t^2).
// Each shard first copies its rows of g into dz in one pass; every step then adds the
// product and applies tanh's derivative in place (one copy of N/S rows per step saved).
void backward_chain(at::Tensor dz, const at::Tensor& g, const at::Tensor& hs, const at::Tensor& W_hh) {
  check_3d(dz, "dz");
  check_3d(g, "g");
  check_3d(hs, "hs");
  TORCH_CHECK(W_hh.is_contiguous(), "W_hh: expected a contiguous (H, H) tensor");
  const int64_t L = dz.size(0), N = dz.size(1);
  for_each_shard(N, [&](int64_t a, int64_t b) {
    const RecurrentProduct times_W_hh(W_hh, /*transpose=*/false, b - a);
    dz.slice(1, a, b).copy_(g.slice(1, a, b));     // (L, b - a, H): g_t, every step
    at::Tensor dz_next = dz[L - 1].slice(0, a, b);  // (b - a, H): dz_L of this shard
    at::tanh_backward_out(dz_next, dz_next, hs[L - 1].slice(0, a, b));
    for (int64_t t = L - 1; t > 0; --t) {
      at::Tensor dz_t = dz[t - 1].slice(0, a, b);
      times_W_hh.multiply_add(dz_next, dz_t);                        // g_t + dz_{t+1} W_hh
      at::tanh_backward_out(dz_t, dz_t, hs[t - 1].slice(0, a, b));  // * (1 - h_t^2)
      dz_next = dz_t;
    }
  });
}

// x = tanh(x) in place, with the forward loop's tanh: for tests and chapter 3's timing.
void tanh_(at::Tensor x) {
  TORCH_CHECK_VALUE(x.is_contiguous() && x.device().is_cpu() && x.is_floating_point(),
                    "tanh_: expected a contiguous floating-point CPU tensor, got ", x.scalar_type(),
                    " on ", x.device(), x.is_contiguous() ? "" : ", not contiguous");
  tanh_in_place(x);
}

int64_t shards_for(int64_t N) { return num_shards(N); }

// How many threads MKL would use for a product called from this thread (-1 without MKL).
int64_t blas_threads() { return MKL_Get_Max_Threads ? MKL_Get_Max_Threads() : -1; }

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "Batch-sharded Elman recurrence loops (rnncourse.sharded_recurrence)";
  // The loops never touch Python objects: let other Python threads run meanwhile.
  m.def("forward_chain", &forward_chain, py::call_guard<py::gil_scoped_release>());
  m.def("backward_chain", &backward_chain, py::call_guard<py::gil_scoped_release>());
  m.def("shards_for", &shards_for, "How many shards a batch of N rows is cut into");
  m.def("tanh_", &tanh_, py::call_guard<py::gil_scoped_release>(),
        "x = tanh(x) in place, with the forward loop's tanh");
  m.def("float_tanh", &float_tanh, "Which tanh the float32 forward loop applies");
  m.def("set_float_tanh", &set_float_tanh, "Choose that tanh by name; returns the previous");
  m.def("blas_threads", &blas_threads, "MKL's thread count for this thread (-1: no MKL)");
}
