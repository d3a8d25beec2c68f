#pragma once
// Embeddings of the non-image inputs of a conditional network.
//
// sinusoidal_embedding<T, D>(dim, max_period = 10000): diffusion timesteps
// t [N] (scalars) to [N, dim], ADM / guided-diffusion's timestep_embedding:
//   half = dim / 2,  freq_k = exp(-ln(max_period) k / half),  k < half,
//   out[n, k] = cos(t_n freq_k),   out[n, half + k] = sin(t_n freq_k).
// It has no parameters and no derivative passes: the timestep is a condition,
// not a differentiable input (a network that embeds t differentiates with
// respect to x only; the embedding is a constant of each step).
//
// label_embedding<T, D>(classes, dim): a learned table W [classes + 1, dim]
// (init N(0, 1), as torch.nn.Embedding); label y in [0, classes) selects row
// y, label null = -1 the last row (the "no label" embedding of classifier-
// free guidance and label dropout).  out[n] = W[y_n], so for the scalar
// <gy, out>
//   backward           gW[y_n] += gy[n]             (rows of the used labels)
// and, the map being linear in W with labels that carry no tangent,
//   backward_tangent   dgW[y_n] += dgy[n]           (the same scatter of dgy).
// There is no input gradient (labels are integers).
//
// On devices other than the host both run as kernels (embedding_kernels<D>,
// device/cuda/embedding.hpp); labels stay host integers and their table rows
// are copied to the device by each forward.
#include <algorithm>
#include <cmath>
#include <span>
#include <type_traits>
#include <vector>

#include "../core/philox.hpp"
#include "../core/tensor.hpp"
#include "../device/cpu/device.hpp"
#include "init.hpp"
#include "layer.hpp"

namespace ebm {
/// The embeddings' kernels on devices other than the host
/// (device/cuda/embedding.hpp).
template <class D>
struct embedding_kernels;
}  // namespace ebm

namespace ebm::nn {

template <class T = float, class D = cpu>
class sinusoidal_embedding {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  explicit sinusoidal_embedding(index_t dim, double max_period = 10000, D dev = {})
      : dim_(dim), max_period_(max_period), dev_(dev) {
    EBM_REQUIRE(dim_ > 0 && dim_ % 2 == 0, "sinusoidal_embedding: dim must be even and positive, got ",
                dim_);
    EBM_REQUIRE(max_period_ > 0, "sinusoidal_embedding: max_period must be positive, got ",
                max_period_);
  }

  index_t dim() const { return dim_; }
  double max_period() const { return max_period_; }

  /// t [N] (or [N, 1]) -> [N, dim].
  const tensor_type& forward(const tensor_type& t) {
    EBM_REQUIRE(t.rank() == 1 || (t.rank() == 2 && t.extent(1) == 1),
                "sinusoidal_embedding::forward: expected timesteps [N] (or [N, 1]), got ", t.shape());
    const index_t n = t.extent(0), half = dim_ / 2;
    y_.resize(shape{n, dim_});
    const double log_period = std::log(max_period_);
    if constexpr (std::is_same_v<D, cpu>) {
      for (index_t i = 0; i < n; ++i) {
        const double ti = static_cast<double>(t[i]);
        T* row = y_.data() + i * dim_;
        for (index_t k = 0; k < half; ++k) {
          const double arg = ti * std::exp(-log_period * static_cast<double>(k) / static_cast<double>(half));
          row[k] = static_cast<T>(std::cos(arg));
          row[half + k] = static_cast<T>(std::sin(arg));
        }
      }
    } else {
      embedding_kernels<D>::template sinusoidal<T>(dev_, t.data(), y_.data(), n, dim_, log_period);
    }
    return y_;
  }

 private:
  index_t dim_;
  double max_period_;
  D dev_;
  tensor_type y_;
};

template <class T = float, class D = cpu>
class label_embedding {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  /// The label that selects the null ("no label") row.
  static constexpr int null = -1;

  label_embedding(index_t classes, index_t dim, D dev = {}) : classes_(classes), dim_(dim), dev_(dev) {
    EBM_REQUIRE(classes_ > 0 && dim_ > 0,
                "label_embedding: classes and dim must be positive, got classes = ", classes_,
                ", dim = ", dim_);
    w_ = tensor_type(shape{classes_ + 1, dim_});
    gw_ = tensor_type(shape{classes_ + 1, dim_});
    init(detail::default_init_rng());
  }

  /// Every entry of the table N(0, 1) (torch.nn.Embedding's default); on
  /// other devices drawn on the host and copied, so the table equals the
  /// host layer's for the same generator state.
  void init(philox& rng) {
    if constexpr (std::is_same_v<D, cpu>) {
      rng.fill_normal<T>(w_.span());
    } else {
      tensor<T> h(w_.shape());
      rng.fill_normal<T>(h.span());
      copy(h, w_);
    }
  }

  index_t classes() const { return classes_; }
  index_t dim() const { return dim_; }
  /// The table [classes + 1, dim]; the last row is the null label's.
  tensor_type& weight() { return w_; }
  const tensor_type& weight() const { return w_; }

  template <class F>
  void visit_params(F&& f) {
    f("weight", w_, gw_);
  }

  /// labels [N] (each in [0, classes) or null) -> [N, dim].
  const tensor_type& forward(std::span<const int> labels) {
    rows_.resize(labels.size());
    for (std::size_t i = 0; i < labels.size(); ++i) {
      const int y = labels[i];
      EBM_REQUIRE(y == null || (y >= 0 && y < classes_), "label_embedding::forward: label ", y,
                  " at index ", i, " is out of range (expected 0..", classes_ - 1, ", or ", null,
                  " for the null label)");
      rows_[i] = y == null ? classes_ : index_t(y);
    }
    const index_t n = static_cast<index_t>(rows_.size());
    y_.resize(shape{n, dim_});
    if constexpr (std::is_same_v<D, cpu>) {
      for (index_t i = 0; i < n; ++i)
        std::copy_n(w_.data() + rows_[i] * dim_, dim_, y_.data() + i * dim_);
    } else {
      rows_dev_.resize(shape{n});
      embedding_kernels<D>::template gather_rows<T>(dev_, w_.data(), rows_.data(), rows_dev_.data(),
                                                    y_.data(), n, dim_);
    }
    return y_;
  }

  /// Adds gy's rows to the rows of the table the last forward used (with
  /// grad::params; there is no input gradient).
  void backward(const tensor_type& gy, grad g = grad::params) { scatter(gy, g, "backward (gy)"); }
  /// The tangent of backward's table gradient along dgy: the same scatter.
  void backward_tangent(const tensor_type& dgy, grad g = grad::params) {
    scatter(dgy, g, "backward_tangent (dgy)");
  }

 private:
  void scatter(const tensor_type& g, grad which, const char* what) {
    const shape expected{static_cast<index_t>(rows_.size()), dim_};
    if (!(expected == g.shape()))
      throw error(ebm::detail::concat("label_embedding::", what, ": shape mismatch, expected ",
                                      expected, " (the labels of the last forward) but got ",
                                      g.shape()));
    if (!wants_params(which)) return;
    if constexpr (std::is_same_v<D, cpu>) {
      for (std::size_t i = 0; i < rows_.size(); ++i) {
        const T* src = g.data() + static_cast<index_t>(i) * dim_;
        T* dst = gw_.data() + rows_[i] * dim_;
        for (index_t k = 0; k < dim_; ++k) dst[k] += src[k];
      }
    } else {
      embedding_kernels<D>::template scatter_add_rows<T>(dev_, g.data(), rows_dev_.data(),
                                                         gw_.data(),
                                                         static_cast<index_t>(rows_.size()),
                                                         classes_ + 1, dim_);
    }
  }

  index_t classes_, dim_;
  D dev_;
  tensor_type w_, gw_, y_;
  std::vector<index_t> rows_;  // table rows of the last forward's labels
  tensor<index_t, D> rows_dev_;  // the same on the device (unused on the host)
};

}  // namespace ebm::nn
