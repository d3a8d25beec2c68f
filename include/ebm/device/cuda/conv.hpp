#pragma once
// conv_kernels<cuda>: batched 2-D convolution through cuDNN, with the public
// static functions of conv_kernels<cpu> (device/cpu/conv.hpp) that conv2d
// calls: forward (with the bias, activation and f' fused into one kernel
// after the convolution), forward_scaled (the tangent of that), and backward
// (data, filter and bias gradients, optionally through a diagonal scale).
//
// Host-API part (this header): cuDNN descriptors, algorithm choice,
// workspace management and the three raw passes
//   conv_forward          out = conv(x, W)                 (overwrites out)
//   conv_backward_data    gx  = conv^T(gz)                 (overwrites gx)
//   conv_backward_filter  gW += corr(gz, x)                (accumulates)
// forward, forward_scaled and backward launch elementwise kernels as well
// and are defined in conv.cuh.
//
// Algorithms come from cuDNN's heuristics (cudnnGetConvolution*Algorithm_v7):
// the first one that is deterministic, fits in max_workspace_bytes and, for
// float without TF32 (the default, see cuda::set_tf32), runs in IEEE FP32
// (CUDNN_FMA_MATH).  Choices are cached per geometry in the caller's
// workspace (up to max_plans geometries), so steady-state passes only launch
// work: no allocation, no synchronisation, capturable into CUDA graphs once
// each geometry has been run eagerly.
#include <climits>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../cpu/conv.hpp"  // conv_geometry, the primary template
#include "tensor.hpp"

namespace ebm {

namespace detail {

template <class T>
constexpr cudnnDataType_t cudnn_data_type() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "conv_kernels<cuda> supports float and double");
  return std::is_same_v<T, float> ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
}

/// A move-only owner of one cuDNN descriptor.
template <class H, cudnnStatus_t (*Create)(H*), cudnnStatus_t (*Destroy)(H)>
class cudnn_descriptor {
 public:
  cudnn_descriptor() { EBM_CUDNN_CHECK(Create(&h_)); }
  ~cudnn_descriptor() {
    if (h_) (void)Destroy(h_);
  }
  cudnn_descriptor(cudnn_descriptor&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  cudnn_descriptor& operator=(cudnn_descriptor&& o) noexcept {
    std::swap(h_, o.h_);
    return *this;
  }
  cudnn_descriptor(const cudnn_descriptor&) = delete;
  cudnn_descriptor& operator=(const cudnn_descriptor&) = delete;
  H get() const { return h_; }

 private:
  H h_ = nullptr;
};
using cudnn_tensor_desc = cudnn_descriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor,
                                           cudnnDestroyTensorDescriptor>;
using cudnn_filter_desc = cudnn_descriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor,
                                           cudnnDestroyFilterDescriptor>;
using cudnn_conv_desc =
    cudnn_descriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
                     cudnnDestroyConvolutionDescriptor>;

inline bool same_conv_geometry(const conv_geometry& a, const conv_geometry& b) {
  return a.batch == b.batch && a.in_channels == b.in_channels && a.height == b.height &&
         a.width == b.width && a.out_channels == b.out_channels && a.kernel == b.kernel &&
         a.stride == b.stride && a.padding == b.padding;
}

inline std::string conv_geometry_str(const conv_geometry& g) {
  return concat("[N=", g.batch, ", Cin=", g.in_channels, ", H=", g.height, ", W=", g.width,
                ", Cout=", g.out_channels, ", k=", g.kernel, ", s=", g.stride, ", p=", g.padding,
                "]");
}

/// An algorithm chosen for one pass: its id, the math type it runs with and
/// the workspace it needs.
struct cudnn_algo {
  int algo = -1;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  std::size_t bytes = 0;
  bool ready() const { return algo >= 0; }
};

/// Picks the first acceptable algorithm of cuDNN's ranked list `perf`, where
/// `workspace(algo, math, bytes)` sets the pass's convolution descriptor to
/// `math` and asks for the algorithm's workspace (returning the status).
/// Acceptable: status success, deterministic (relaxed if none is), workspace
/// within `limit`, and for strict FP32 no tensor-op math.  Falls back to
/// trying every algorithm id in order (cuDNN's heuristics can come back
/// empty for unusual shapes).
template <class Perf, class Workspace>
cudnn_algo choose_cudnn_algo(const std::vector<Perf>& perf, int algo_count,
                             bool (*nondeterministic)(int), bool strict_fp32, std::size_t limit,
                             Workspace&& workspace, const char* pass, const conv_geometry& g) {
  const cudnnMathType_t fp32_math = CUDNN_FMA_MATH;
  for (int relaxed = 0; relaxed < 2; ++relaxed) {
    for (const Perf& p : perf) {
      if (p.status != CUDNN_STATUS_SUCCESS) continue;
      if (!relaxed && p.determinism != CUDNN_DETERMINISTIC) continue;
      if (strict_fp32 && (p.mathType == CUDNN_TENSOR_OP_MATH ||
                          p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
        continue;
      const int algo = static_cast<int>(p.algo);
      const cudnnMathType_t math = strict_fp32 ? fp32_math : p.mathType;
      std::size_t bytes = 0;
      if (workspace(algo, math, bytes) != CUDNN_STATUS_SUCCESS || bytes > limit) continue;
      return {algo, math, bytes};
    }
    for (int algo = 0; algo < algo_count; ++algo) {
      if (!relaxed && nondeterministic(algo)) continue;
      const cudnnMathType_t math = strict_fp32 ? fp32_math : CUDNN_DEFAULT_MATH;
      std::size_t bytes = 0;
      if (workspace(algo, math, bytes) != CUDNN_STATUS_SUCCESS || bytes > limit) continue;
      return {algo, math, bytes};
    }
  }
  throw error(concat("conv_kernels<cuda>: cuDNN offers no ", pass, " algorithm for geometry ",
                     conv_geometry_str(g), " within a workspace of ", limit, " bytes"));
}

inline bool fwd_nondeterministic(int) { return false; }
inline bool bwd_data_nondeterministic(int a) { return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_0; }
inline bool bwd_filter_nondeterministic(int a) {
  return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3;
}

/// Descriptors and chosen algorithms of one geometry.  Each pass has its own
/// convolution descriptor because each may run with another math type.
struct cudnn_conv_plan {
  conv_geometry g;
  cudnnDataType_t type;
  bool tf32;
  cudnn_tensor_desc x, y;
  cudnn_filter_desc w;
  cudnn_conv_desc fwd, bwd_data, bwd_filter;
  cudnn_algo fwd_algo, bwd_data_algo, bwd_filter_algo;

  cudnn_conv_plan(const conv_geometry& geo, cudnnDataType_t t, bool allow_tf32)
      : g(geo), type(t), tf32(allow_tf32) {
    const index_t dims[] = {g.batch,  g.in_channels, g.height,   g.width,    g.out_channels,
                            g.kernel, g.stride,      g.padding, g.out_height, g.out_width};
    for (index_t v : dims)
      EBM_REQUIRE(v >= 0 && v <= INT_MAX, "conv_kernels<cuda>: geometry ", conv_geometry_str(g),
                  " exceeds cuDNN's 32-bit sizes");
    EBM_REQUIRE(g.batch * g.in_channels * g.in_plane() <= INT_MAX &&
                    g.batch * g.out_channels * g.out_plane() <= INT_MAX,
                "conv_kernels<cuda>: tensors of geometry ", conv_geometry_str(g),
                " exceed cuDNN's 2^31 elements");
    const int n = int(g.batch), ci = int(g.in_channels), co = int(g.out_channels);
    const int k = int(g.kernel), s = int(g.stride), p = int(g.padding);
    EBM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x.get(), CUDNN_TENSOR_NCHW, type, n, ci,
                                               int(g.height), int(g.width)));
    EBM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y.get(), CUDNN_TENSOR_NCHW, type, n, co,
                                               int(g.out_height), int(g.out_width)));
    EBM_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w.get(), type, CUDNN_TENSOR_NCHW, co, ci, k, k));
    // Strict FP32 from the start, so that the heuristics rank FP32 kernels.
    const cudnnMathType_t math = strict_fp32() ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
    for (const cudnn_conv_desc* c : {&fwd, &bwd_data, &bwd_filter}) {
      EBM_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(c->get(), p, p, s, s, 1, 1,
                                                      CUDNN_CROSS_CORRELATION, type));
      EBM_CUDNN_CHECK(cudnnSetConvolutionMathType(c->get(), math));
    }
    int on = 0, oc = 0, oh = 0, ow = 0;
    EBM_CUDNN_CHECK(
        cudnnGetConvolution2dForwardOutputDim(fwd.get(), x.get(), w.get(), &on, &oc, &oh, &ow));
    EBM_REQUIRE(on == n && oc == co && oh == g.out_height && ow == g.out_width,
                "conv_kernels<cuda>: cuDNN's output ", on, "x", oc, "x", oh, "x", ow,
                " differs from the geometry ", conv_geometry_str(g));
  }
  bool strict_fp32() const { return type == CUDNN_DATA_FLOAT && !tf32; }
};

}  // namespace detail

template <>
struct conv_kernels<cuda> {
  /// Largest cuDNN workspace an algorithm may ask for.
  static constexpr std::size_t max_workspace_bytes = std::size_t(256) << 20;
  /// Geometries whose descriptors and algorithms a workspace keeps.
  static constexpr std::size_t max_plans = 8;

  /// Per-layer cache kept by the caller between calls: cuDNN descriptors
  /// and algorithm choices per geometry, the cuDNN workspace and a scratch
  /// buffer.  Copying yields an empty cache (it refills on first use).
  template <class T>
  class workspace {
   public:
    workspace() = default;
    workspace(const workspace&) {}
    workspace& operator=(const workspace&) {
      plans_.clear();
      return *this;
    }
    workspace(workspace&&) noexcept = default;
    workspace& operator=(workspace&&) noexcept = default;

    /// The plan of geometry g (created on first use; the oldest of more
    /// than max_plans is dropped).
    detail::cudnn_conv_plan& plan(const cuda& dev, const conv_geometry& g) {
      const bool tf32 = dev.tf32();
      for (auto& p : plans_)
        if (detail::same_conv_geometry(p->g, g) && p->tf32 == tf32) return *p;
      if (plans_.size() >= max_plans) plans_.erase(plans_.begin());
      plans_.push_back(
          std::make_unique<detail::cudnn_conv_plan>(g, detail::cudnn_data_type<T>(), tf32));
      return *plans_.back();
    }
    /// cuDNN workspace of at least `bytes` (null for 0).
    void* scratch(const cuda& dev, std::size_t bytes) {
      if (bytes == 0) return nullptr;
      if (scratch_.capacity() < static_cast<index_t>(bytes)) scratch_ = tensor<unsigned char, cuda>(dev);
      return scratch_.resize(shape{static_cast<index_t>(bytes)}).data();
    }
    /// A device buffer of n elements of T (gz = scale * gy).
    T* buffer(const cuda& dev, index_t n) {
      if (buffer_.capacity() < n) buffer_ = tensor<T, cuda>(dev);
      return buffer_.resize(shape{n}).data();
    }

   private:
    std::vector<std::unique_ptr<detail::cudnn_conv_plan>> plans_;
    tensor<unsigned char, cuda> scratch_;
    tensor<T, cuda> buffer_;
  };

  // ---- raw cuDNN passes (host API) ----

  /// out = conv(x, W) ([N, Cout, Ho, Wo], overwritten; no bias).
  template <class T>
  static void conv_forward(const cuda& dev, const conv_geometry& g, const T* x, const T* w, T* out,
                           workspace<T>& ws) {
    if (g.batch == 0) return;
    detail::cuda_device_guard guard(dev.device());
    auto& p = ws.plan(dev, g);
    const cudnnHandle_t h = dev.cudnn();
    if (!p.fwd_algo.ready()) {
      int max = 0, got = 0;
      EBM_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max));
      std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<std::size_t>(max));
      EBM_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, p.x.get(), p.w.get(), p.fwd.get(),
                                                             p.y.get(), max, &got, perf.data()));
      perf.resize(static_cast<std::size_t>(got));
      p.fwd_algo = detail::choose_cudnn_algo(
          perf, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, detail::fwd_nondeterministic, p.strict_fp32(),
          max_workspace_bytes,
          [&](int algo, cudnnMathType_t math, std::size_t& bytes) {
            cudnnStatus_t s = cudnnSetConvolutionMathType(p.fwd.get(), math);
            if (s == CUDNN_STATUS_SUCCESS)
              s = cudnnGetConvolutionForwardWorkspaceSize(h, p.x.get(), p.w.get(), p.fwd.get(),
                                                          p.y.get(),
                                                          static_cast<cudnnConvolutionFwdAlgo_t>(algo),
                                                          &bytes);
            return s;
          },
          "forward", g);
      EBM_CUDNN_CHECK(cudnnSetConvolutionMathType(p.fwd.get(), p.fwd_algo.math));
    }
    void* scratch = ws.scratch(dev, p.fwd_algo.bytes);
    const T one(1), zero(0);
    EBM_CUDNN_CHECK(cudnnConvolutionForward(
        h, &one, p.x.get(), x, p.w.get(), w, p.fwd.get(),
        static_cast<cudnnConvolutionFwdAlgo_t>(p.fwd_algo.algo), scratch, p.fwd_algo.bytes, &zero,
        p.y.get(), out));
  }

  /// gx = conv^T(gz) ([N, Cin, H, W], overwritten).
  template <class T>
  static void conv_backward_data(const cuda& dev, const conv_geometry& g, const T* w, const T* gz,
                                 T* gx, workspace<T>& ws) {
    if (g.batch == 0) return;
    detail::cuda_device_guard guard(dev.device());
    auto& p = ws.plan(dev, g);
    const cudnnHandle_t h = dev.cudnn();
    if (!p.bwd_data_algo.ready()) {
      int max = 0, got = 0;
      EBM_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max));
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(static_cast<std::size_t>(max));
      EBM_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
          h, p.w.get(), p.y.get(), p.bwd_data.get(), p.x.get(), max, &got, perf.data()));
      perf.resize(static_cast<std::size_t>(got));
      p.bwd_data_algo = detail::choose_cudnn_algo(
          perf, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, detail::bwd_data_nondeterministic,
          p.strict_fp32(), max_workspace_bytes,
          [&](int algo, cudnnMathType_t math, std::size_t& bytes) {
            cudnnStatus_t s = cudnnSetConvolutionMathType(p.bwd_data.get(), math);
            if (s == CUDNN_STATUS_SUCCESS)
              s = cudnnGetConvolutionBackwardDataWorkspaceSize(
                  h, p.w.get(), p.y.get(), p.bwd_data.get(), p.x.get(),
                  static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), &bytes);
            return s;
          },
          "backward-data", g);
      EBM_CUDNN_CHECK(cudnnSetConvolutionMathType(p.bwd_data.get(), p.bwd_data_algo.math));
    }
    void* scratch = ws.scratch(dev, p.bwd_data_algo.bytes);
    const T one(1), zero(0);
    EBM_CUDNN_CHECK(cudnnConvolutionBackwardData(
        h, &one, p.w.get(), w, p.y.get(), gz, p.bwd_data.get(),
        static_cast<cudnnConvolutionBwdDataAlgo_t>(p.bwd_data_algo.algo), scratch,
        p.bwd_data_algo.bytes, &zero, p.x.get(), gx));
  }

  /// gw += corr(gz, x) ([Cout, Cin, k, k], accumulated).
  template <class T>
  static void conv_backward_filter(const cuda& dev, const conv_geometry& g, const T* x,
                                   const T* gz, T* gw, workspace<T>& ws) {
    if (g.batch == 0) return;
    detail::cuda_device_guard guard(dev.device());
    auto& p = ws.plan(dev, g);
    const cudnnHandle_t h = dev.cudnn();
    if (!p.bwd_filter_algo.ready()) {
      int max = 0, got = 0;
      EBM_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max));
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(static_cast<std::size_t>(max));
      EBM_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
          h, p.x.get(), p.y.get(), p.bwd_filter.get(), p.w.get(), max, &got, perf.data()));
      perf.resize(static_cast<std::size_t>(got));
      p.bwd_filter_algo = detail::choose_cudnn_algo(
          perf, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, detail::bwd_filter_nondeterministic,
          p.strict_fp32(), max_workspace_bytes,
          [&](int algo, cudnnMathType_t math, std::size_t& bytes) {
            cudnnStatus_t s = cudnnSetConvolutionMathType(p.bwd_filter.get(), math);
            if (s == CUDNN_STATUS_SUCCESS)
              s = cudnnGetConvolutionBackwardFilterWorkspaceSize(
                  h, p.x.get(), p.y.get(), p.bwd_filter.get(), p.w.get(),
                  static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), &bytes);
            return s;
          },
          "backward-filter", g);
      EBM_CUDNN_CHECK(cudnnSetConvolutionMathType(p.bwd_filter.get(), p.bwd_filter_algo.math));
    }
    void* scratch = ws.scratch(dev, p.bwd_filter_algo.bytes);
    const T one(1);
    EBM_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
        h, &one, p.x.get(), x, p.y.get(), gz, p.bwd_filter.get(),
        static_cast<cudnnConvolutionBwdFilterAlgo_t>(p.bwd_filter_algo.algo), scratch,
        p.bwd_filter_algo.bytes, &one, p.w.get(), gw));
  }

  // ---- the conv_kernels<cpu> interface (defined in conv.cuh) ----

  /// y = f(conv(x, W) + b) with z = conv(x, W) + b and d = f'(z) stored when
  /// non-null; b may be null (no bias).
  template <class T, class Act>
  static void forward(const cuda& dev, const conv_geometry& g, const T* x, const T* w, const T* b,
                      const Act& act, T* y, T* z, T* d, workspace<T>& ws);
  /// raw = conv(x, W) (stored when non-null) and y = scale * raw (y = raw
  /// when scale is null).
  template <class T>
  static void forward_scaled(const cuda& dev, const conv_geometry& g, const T* x, const T* w,
                             const T* scale, T* y, T* raw, workspace<T>& ws);
  /// With gz = scale * gy (gz = gy when scale is null): gx = conv^T(gz)
  /// (overwritten), gw += corr(gz, x), gb += sum over n, h, w of gz, each
  /// when its pointer is non-null.
  template <class T>
  static void backward(const cuda& dev, const conv_geometry& g, const T* x, const T* w,
                       const T* gy, const T* scale, T* gx, T* gw, T* gb, workspace<T>& ws);
};

}  // namespace ebm
