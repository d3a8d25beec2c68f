#pragma once
// linear<T, D>: y = x W^T + b on [N, in] (any input shape [N, ...] is read as
// [N, in]); W is [out, in].  Tangents follow by bilinearity:
//   dy  = dx W^T,   dgx = dgy W,
//   dgW = dgy^T x + gy^T dx,   dgb = sum_n dgy.
#include <cmath>

#include "../device/cpu/blas.hpp"
#include "init.hpp"
#include "layer.hpp"


namespace ebm::nn {

template <class T = float, class D = cpu>
class linear {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  linear(index_t in_features, index_t out_features, bool bias = true, D dev = {})
      : in_(in_features), out_(out_features), has_bias_(bias), dev_(dev) {
    EBM_REQUIRE(in_ > 0 && out_ > 0, "linear: feature counts must be positive, got in = ", in_,
                ", out = ", out_);
    w_ = tensor_type(shape{out_, in_});
    gw_ = tensor_type(shape{out_, in_});
    if (has_bias_) {
      b_ = tensor_type(shape{out_});
      gb_ = tensor_type(shape{out_});
    }
    init(detail::default_init_rng());
  }

  void init(philox& rng) {
    const T bound = T(1) / std::sqrt(T(in_));
    uniform_init(w_, bound, rng);
    if (has_bias_) uniform_init(b_, bound, rng);
  }

  index_t in_features() const { return in_; }
  index_t out_features() const { return out_; }
  tensor_type& weight() { return w_; }
  tensor_type& bias() { return b_; }

  template <class F>
  void visit_params(F&& f) {
    f("weight", w_, gw_);
    if (has_bias_) f("bias", b_, gb_);
  }

  const tensor_type& forward(const tensor_type& x) {
    check_input(x.shape(), "linear::forward");
    x_ = &x;
    const index_t n = x.extent(0);
    y_.resize(shape{n, out_});
    blas<D>::gemm(dev_, false, true, n, out_, in_, T(1), x.data(), in_, w_.data(), in_, T(0),
                  y_.data(), out_);
    if (has_bias_) blas<D>::add_row(dev_, y_.data(), n, out_, b_.data());
    return y_;
  }
  const tensor_type& backward(const tensor_type& gy, grad g = grad::input) {
    EBM_REQUIRE(x_, "linear::backward: call forward first");
    require_same_shape(y_.shape(), gy.shape(), "linear::backward (gy)");
    gy_ = &gy;
    const index_t n = gy.extent(0);
    if (wants_input(g)) {
      gx_.resize(x_->shape());
      blas<D>::gemm(dev_, false, false, n, in_, out_, T(1), gy.data(), out_, w_.data(), in_,
                    T(0), gx_.data(), in_);
    }
    if (wants_params(g)) {
      blas<D>::gemm(dev_, true, false, out_, in_, n, T(1), gy.data(), out_, x_->data(), in_, T(1),
                    gw_.data(), in_);
      if (has_bias_) blas<D>::sum_rows(dev_, gy.data(), n, out_, gb_.data(), true);
    }
    return gx_;
  }
  const tensor_type& forward_tangent(const tensor_type& dx) {
    require_same_shape(x_->shape(), dx.shape(), "linear::forward_tangent (dx)");
    dx_ = &dx;
    const index_t n = dx.extent(0);
    dy_.resize(shape{n, out_});
    blas<D>::gemm(dev_, false, true, n, out_, in_, T(1), dx.data(), in_, w_.data(), in_, T(0),
                  dy_.data(), out_);
    return dy_;
  }
  const tensor_type& backward_tangent(const tensor_type& dgy, grad g = grad::input) {
    EBM_REQUIRE(gy_ && dx_, "linear::backward_tangent: call backward and forward_tangent first");
    require_same_shape(y_.shape(), dgy.shape(), "linear::backward_tangent (dgy)");
    const index_t n = dgy.extent(0);
    if (wants_input(g)) {
      dgx_.resize(x_->shape());
      blas<D>::gemm(dev_, false, false, n, in_, out_, T(1), dgy.data(), out_, w_.data(), in_,
                    T(0), dgx_.data(), in_);
    }
    if (wants_params(g)) {
      blas<D>::gemm(dev_, true, false, out_, in_, n, T(1), dgy.data(), out_, x_->data(), in_,
                    T(1), gw_.data(), in_);
      blas<D>::gemm(dev_, true, false, out_, in_, n, T(1), gy_->data(), out_, dx_->data(), in_,
                    T(1), gw_.data(), in_);
      if (has_bias_) blas<D>::sum_rows(dev_, dgy.data(), n, out_, gb_.data(), true);
    }
    return dgx_;
  }

 private:
  void check_input(const shape& s, const char* where) const {
    EBM_REQUIRE(s.rank() >= 2 && s.sample_size() == in_, where, ": expected input [N, ", in_,
                "] (or [N, ...] with ", in_, " features per sample), got ", s);
  }
  index_t in_, out_;
  bool has_bias_;
  D dev_;
  tensor_type w_, gw_, b_, gb_;
  const tensor_type* x_ = nullptr;
  const tensor_type* gy_ = nullptr;
  const tensor_type* dx_ = nullptr;
  tensor_type y_, gx_, dy_, dgx_;
};

}  // namespace ebm::nn
