#pragma once
// ebm::cuda: the GPU device policy.  Like ebm::cpu it is a cheap handle that
// copies share: one GPU, one CUDA stream, a cuBLAS and a cuDNN handle bound
// to that stream, and the cuBLAS workspace (set explicitly so that GEMMs
// allocate nothing and can be captured into CUDA graphs).
//
//   ebm::cuda dev;                          // this thread's current device policy
//   auto own = ebm::cuda::create();         // a new stream + handles on the current GPU
//   auto ext = ebm::cuda::wrap(stream);     // handles bound to a stream you own
//   { ebm::cuda_scope use(own);             // cuda{} now means `own` on this thread
//     ... build and run a model ... }
//
// cuda{} is the thread's current policy: the one made current by the
// innermost cuda_scope, else the process-wide default of the current GPU (a
// non-blocking stream of its own, created on first use and kept until exit).
// Layers take `D dev = {}` and tensors bind to cuda{} when they first
// allocate, so a model built and run inside one scope works on one stream.
//
// All work of a policy is ordered on its stream; nothing synchronises unless
// asked (synchronize(), to_host()).  Floating-point GEMMs and convolutions run
// in IEEE FP32/FP64 by default; set_tf32(true) allows TF32 tensor cores for
// float (faster, about 1e-3 relative error).
//
// Host-API header: compiles with the ordinary C++ compiler (EBM_HAS_CUDA).
#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "../../core/fwd.hpp"
#include "error.hpp"

namespace ebm {

namespace detail {

/// Makes `device` current for the lifetime of the guard (restores the
/// previous device; no-op when it already is current).
class cuda_device_guard {
 public:
  explicit cuda_device_guard(int device) {
    EBM_CUDA_CHECK(cudaGetDevice(&prev_));
    if (prev_ != device) {
      EBM_CUDA_CHECK(cudaSetDevice(device));
      switched_ = true;
    }
  }
  ~cuda_device_guard() {
    if (switched_) (void)cudaSetDevice(prev_);
  }
  cuda_device_guard(const cuda_device_guard&) = delete;
  cuda_device_guard& operator=(const cuda_device_guard&) = delete;

 private:
  int prev_ = 0;
  bool switched_ = false;
};

/// What an ebm::cuda handle shares: the GPU, the stream and the library
/// handles bound to it.
class cuda_context {
 public:
  /// cuBLAS workspace: 32 MiB is NVIDIA's recommendation for Hopper (enough
  /// for every earlier architecture too).
  static constexpr std::size_t cublas_workspace_bytes = std::size_t(32) << 20;

  /// Handles on `device` bound to `stream`; creates a non-blocking stream
  /// (owned) when `stream` is null.
  cuda_context(int device, cudaStream_t stream) : device_(device) {
    cuda_device_guard g(device);
    try {
      if (stream) {
        stream_ = stream;
      } else {
        EBM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
        owns_stream_ = true;
      }
      EBM_CUBLAS_CHECK(cublasCreate(&blas_));
      EBM_CUBLAS_CHECK(cublasSetStream(blas_, stream_));
      EBM_CUBLAS_CHECK(cublasSetPointerMode(blas_, CUBLAS_POINTER_MODE_HOST));
      EBM_CUDA_CHECK(cudaMalloc(&blas_ws_, cublas_workspace_bytes));
      EBM_CUBLAS_CHECK(cublasSetWorkspace(blas_, blas_ws_, cublas_workspace_bytes));
      EBM_CUDNN_CHECK(cudnnCreate(&dnn_));
      EBM_CUDNN_CHECK(cudnnSetStream(dnn_, stream_));
    } catch (...) {
      release();
      throw;
    }
  }
  ~cuda_context() { release(); }
  cuda_context(const cuda_context&) = delete;
  cuda_context& operator=(const cuda_context&) = delete;

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t cublas() const { return blas_; }
  cudnnHandle_t cudnn() const { return dnn_; }
  bool tf32() const { return tf32_; }
  void set_tf32(bool on) {
    cuda_device_guard g(device_);
    EBM_CUBLAS_CHECK(cublasSetMathMode(blas_, on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    tf32_ = on;
  }

 private:
  void release() noexcept {
    // Destructors never throw: failures here (e.g. at process exit, after the
    // runtime has shut down) are ignored.
    int prev = 0;
    const bool switched = cudaGetDevice(&prev) == cudaSuccess && prev != device_ &&
                          cudaSetDevice(device_) == cudaSuccess;
    if (stream_) (void)cudaStreamSynchronize(stream_);
    if (dnn_) (void)cudnnDestroy(dnn_);
    if (blas_) (void)cublasDestroy(blas_);
    if (blas_ws_) (void)cudaFree(blas_ws_);
    if (owns_stream_ && stream_) (void)cudaStreamDestroy(stream_);
    dnn_ = nullptr, blas_ = nullptr, blas_ws_ = nullptr, stream_ = nullptr;
    if (switched) (void)cudaSetDevice(prev);
  }

  int device_;
  cudaStream_t stream_ = nullptr;
  bool owns_stream_ = false;
  cublasHandle_t blas_ = nullptr;
  void* blas_ws_ = nullptr;
  cudnnHandle_t dnn_ = nullptr;
  bool tf32_ = false;
};

}  // namespace detail

struct cuda {
  /// This thread's current device policy (see the header comment).
  cuda() : ctx_(current_context()) {}

  /// A policy with a new non-blocking stream and its own handles on `device`
  /// (-1: the current GPU).
  static cuda create(int device = -1) {
    return cuda(std::make_shared<detail::cuda_context>(resolve(device), nullptr));
  }
  /// A policy whose handles work on a stream the caller owns (it must outlive
  /// every copy of the returned policy).
  static cuda wrap(cudaStream_t stream, int device = -1) {
    EBM_REQUIRE(stream != nullptr,
                "cuda::wrap: pass a created stream (the legacy default stream cannot be "
                "captured into CUDA graphs)");
    return cuda(std::make_shared<detail::cuda_context>(resolve(device), stream));
  }
  /// Number of usable GPUs; 0 (never an exception) without a GPU or driver.
  static int device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      (void)cudaGetLastError();  // clear the non-sticky error
      return 0;
    }
    return n;
  }

  int device() const { return ctx_->device(); }
  cudaStream_t stream() const { return ctx_->stream(); }
  cublasHandle_t cublas() const { return ctx_->cublas(); }
  cudnnHandle_t cudnn() const { return ctx_->cudnn(); }
  /// Whether float GEMMs and convolutions may use TF32 tensor cores.
  bool tf32() const { return ctx_->tf32(); }
  /// Allows or forbids TF32 for every copy of this policy.
  void set_tf32(bool on) const { ctx_->set_tf32(on); }
  /// Blocks until all work queued on the stream has finished.
  void synchronize() const { EBM_CUDA_CHECK(cudaStreamSynchronize(stream())); }

  /// Two handles are equal when they share one context (stream and handles).
  friend bool operator==(const cuda& a, const cuda& b) { return a.ctx_ == b.ctx_; }

  /// The shared state (for advanced use: keeping a context alive).
  const std::shared_ptr<detail::cuda_context>& context() const { return ctx_; }
  explicit cuda(std::shared_ptr<detail::cuda_context> ctx) : ctx_(std::move(ctx)) {
    EBM_REQUIRE(ctx_ != nullptr, "cuda: null context");
  }

 private:
  friend class cuda_scope;

  static int resolve(int device) {
    if (device >= 0) return device;
    int d = 0;
    EBM_CUDA_CHECK(cudaGetDevice(&d));
    return d;
  }
  static std::shared_ptr<detail::cuda_context>& scoped() {
    static thread_local std::shared_ptr<detail::cuda_context> s;
    return s;
  }
  /// The default context of the current GPU, created on first use.  The
  /// contexts are deliberately never destroyed: tensors with static storage
  /// may still free memory on their streams during exit.
  static std::shared_ptr<detail::cuda_context> default_context() {
    static std::mutex m;
    static auto* contexts = new std::vector<std::shared_ptr<detail::cuda_context>>();
    const int d = resolve(-1);
    std::lock_guard<std::mutex> lock(m);
    if (static_cast<int>(contexts->size()) <= d) contexts->resize(static_cast<std::size_t>(d) + 1);
    auto& c = (*contexts)[static_cast<std::size_t>(d)];
    if (!c) c = std::make_shared<detail::cuda_context>(d, nullptr);
    return c;
  }
  static std::shared_ptr<detail::cuda_context> current_context() {
    if (const auto& s = scoped()) return s;
    return default_context();
  }

  std::shared_ptr<detail::cuda_context> ctx_;
};

/// Makes `dev` this thread's current policy (what cuda{} returns) until the
/// scope ends; scopes nest.
class cuda_scope {
 public:
  explicit cuda_scope(const cuda& dev) : prev_(std::exchange(cuda::scoped(), dev.context())) {}
  ~cuda_scope() { cuda::scoped() = std::move(prev_); }
  cuda_scope(const cuda_scope&) = delete;
  cuda_scope& operator=(const cuda_scope&) = delete;

 private:
  std::shared_ptr<detail::cuda_context> prev_;
};

}  // namespace ebm
