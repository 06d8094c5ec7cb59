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
// meet once, at the end. The numbers are those of the Python loops: row i of a product
// does not depend on the other rows. In float32 with MKL, each core also packs W_hh once
// per loop into the layout MKL's kernel reads (MKL's packed GEMM) instead of MKL repacking
// it at every step: the weights stay put while the states stream through, as in
// persistent RNN kernels. Same kernel, same numbers; a few percent faster.
//
// Shapes (all contiguous, one floating dtype, CPU; rnncourse/fast_elman.py checks them):
//   out, dz, g, hs (L, N, H);  W_hh (H, H);  h_0 (N, H) or None for zeros.

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <optional>

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
    h.tanh_();
    for (int64_t t = 1; t < L; ++t) {
      at::Tensor next = out[t].slice(0, a, b);  // (b - a, H): p_{t+1}
      times_W_hh_T.multiply_add(h, next);      // p_{t+1} + h_t W_hh^T, in place
      next.tanh_();                             // h_{t+1}
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

int64_t shards_for(int64_t N) { return num_shards(N); }

// How many threads MKL would use for a product called from this thread (-1 without MKL).
int64_t blas_threads() { return MKL_Get_Max_Threads ? MKL_Get_Max_Threads() : -1; }

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "Batch-sharded Elman recurrence loops (rnncourse.sharded_recurrence)";
  // The loops never touch Python objects: let other Python threads run meanwhile.
  m.def("forward_chain", &forward_chain, py::call_guard<py::gil_scoped_release>());
  m.def("backward_chain", &backward_chain, py::call_guard<py::gil_scoped_release>());
  m.def("shards_for", &shards_for, "How many shards a batch of N rows is cut into");
  m.def("blas_threads", &blas_threads, "MKL's thread count for this thread (-1: no MKL)");
}
