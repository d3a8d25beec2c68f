#pragma once
// conv2d<T, D, Act>: 2-D convolution on NCHW input with an optional fused
// activation, y = Act(conv(x, W) + b).
//
// W is [Cout, Cin, k, k] and b is [Cout] (PyTorch's layout and default
// initialisation, uniform in +-1/sqrt(Cin k k)).  Square kernel, equal
// stride and zero padding on both axes.  Output size (H + 2p - k) / s + 1.
//
// With z = conv(x, W) + b and f = Act, the four passes are
//   forward           y = f(z), keeping z and d = f'(z) (one fused write of the result)
//   backward          gz = d gy,  gx = conv^T(gz),  gW += corr(gz, x),  gb += sum gz
//   forward_tangent   dz = conv(dx, W),  dy = d dz
//   backward_tangent  dgz = f''(z) dz gy + d dgy,  dgx = conv^T(dgz),
//                     dgW += corr(dgz, x) + corr(gz, dx),  dgb += sum dgz
// (bilinearity of the convolution in (x, W) gives the last line).  With the
// identity activation nothing but y is stored and gz = gy.  Inside a
// first_order_scope the forward does not keep z (only backward_tangent needs
// it), and the tangent passes refuse to run until the next full forward.
#include <cmath>
#include <type_traits>

#include "../device/cpu/conv.hpp"
#include "../device/cpu/elementwise.hpp"
#include "activation.hpp"
#include "first_order.hpp"
#include "init.hpp"
#include "layer.hpp"

namespace ebm::nn {

template <class T = float, class D = cpu, class Act = act::identity>
class conv2d {
  static constexpr bool linear_act = std::is_same_v<Act, act::identity>;
  using kernels = conv_kernels<D>;

 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;
  using activation_type = Act;

  conv2d(index_t in_channels, index_t out_channels, index_t kernel, index_t stride = 1,
         index_t padding = 0, bool bias = true, D dev = {}, Act act = {})
      : cin_(in_channels), cout_(out_channels), k_(kernel), stride_(stride), pad_(padding),
        has_bias_(bias), dev_(dev), act_(act) {
    EBM_REQUIRE(cin_ > 0 && cout_ > 0, "conv2d: channel counts must be positive, got in = ",
                cin_, ", out = ", cout_);
    EBM_REQUIRE(k_ > 0, "conv2d: kernel size must be positive, got ", k_);
    EBM_REQUIRE(stride_ > 0, "conv2d: stride must be positive, got ", stride_);
    EBM_REQUIRE(pad_ >= 0, "conv2d: padding must be non-negative, got ", pad_);
    w_ = tensor_type(shape{cout_, cin_, k_, k_});
    gw_ = tensor_type(w_.shape());
    if (has_bias_) {
      b_ = tensor_type(shape{cout_});
      gb_ = tensor_type(shape{cout_});
    }
    init(detail::default_init_rng());
  }

  /// PyTorch's default: weight and bias uniform in +-1/sqrt(Cin k k).
  void init(philox& rng) {
    const T bound = T(1) / std::sqrt(T(cin_ * k_ * k_));
    uniform_init(w_, bound, rng);
    if (has_bias_) uniform_init(b_, bound, rng);
  }

  index_t in_channels() const { return cin_; }
  index_t out_channels() const { return cout_; }
  index_t kernel_size() const { return k_; }
  index_t stride() const { return stride_; }
  index_t padding() const { return pad_; }
  bool has_bias() const { return has_bias_; }
  const Act& activation() const { return act_; }
  tensor_type& weight() { return w_; }
  const tensor_type& weight() const { return w_; }
  /// The bias (empty when constructed with bias = false).
  tensor_type& bias() { return b_; }
  const tensor_type& bias() const { return b_; }

  /// The output shape for an input shape (validates the input).
  shape output_shape(const shape& in) const {
    check_input(in, "conv2d::output_shape");
    return geometry(in).output_shape();
  }

  template <class F>
  void visit_params(F&& f) {
    f("weight", w_, gw_);
    if (has_bias_) f("bias", b_, gb_);
  }

  const tensor_type& forward(const tensor_type& x) {
    const shape ys = begin_forward(x, "conv2d::forward");
    if constexpr (linear_act) {
      kernels::forward(dev_, g_, x.data(), w_.data(), bias_ptr(), act_, y_.data(),
                       static_cast<T*>(nullptr), static_cast<T*>(nullptr), ws_);
    } else {
      tangents_ready_ = !first_order_scope::active();
      if (tangents_ready_) z_.resize(ys);
      d_.resize(ys);
      kernels::forward(dev_, g_, x.data(), w_.data(), bias_ptr(), act_, y_.data(),
                       tangents_ready_ ? z_.data() : static_cast<T*>(nullptr), d_.data(), ws_);
    }
    return y_;
  }

  /// out = addend + scale (conv(x, W) + b): forward(x) with its result added
  /// into a sum in the epilogue's single write (nn::branch_sum uses it for a
  /// residual block's skip branch).  Host, identity activation.  The block's
  /// state afterwards is that of forward(x), except that y is not kept.
  const tensor_type& forward_add(const tensor_type& x, const tensor_type& addend, T scale, tensor_type& out)
    requires(linear_act && std::is_same_v<D, cpu>)
  {
    const shape ys = begin_forward(x, "conv2d::forward_add");  // y_ only sized: later passes check shapes
    require_same_shape(ys, addend.shape(), "conv2d::forward_add (addend)");
    out.resize(ys);
    kernels::forward_add(dev_, g_, x.data(), w_.data(), bias_ptr(), addend.data(), scale, out.data(), ws_);
    return out;
  }

  const tensor_type& backward(const tensor_type& gy, grad g = grad::input) {
    EBM_REQUIRE(x_, "conv2d::backward: call forward first");
    require_same_shape(y_.shape(), gy.shape(), "conv2d::backward (gy)");
    gy_ = &gy;
    T* gx = nullptr;
    if (wants_input(g)) gx = gx_.resize(x_->shape()).data();
    const bool params = wants_params(g);
    kernels::backward(dev_, g_, x_->data(), w_.data(), gy.data(), scale_ptr(), gx,
                      params ? gw_.data() : nullptr, params && has_bias_ ? gb_.data() : nullptr,
                      ws_);
    return gx_;
  }

  const tensor_type& forward_tangent(const tensor_type& dx) {
    EBM_REQUIRE(x_, "conv2d::forward_tangent: call forward first");
    require_tangents("conv2d::forward_tangent");
    require_same_shape(x_->shape(), dx.shape(), "conv2d::forward_tangent (dx)");
    dx_ = &dx;
    dy_.resize(y_.shape());
    T* raw = nullptr;
    if constexpr (!linear_act) raw = dz_.resize(y_.shape()).data();
    kernels::forward_scaled(dev_, g_, dx.data(), w_.data(), scale_ptr(), dy_.data(), raw, ws_);
    return dy_;
  }

  const tensor_type& backward_tangent(const tensor_type& dgy, grad g = grad::input) {
    require_tangents("conv2d::backward_tangent");
    EBM_REQUIRE(gy_ && dx_,
                "conv2d::backward_tangent: call forward, backward and forward_tangent first");
    require_same_shape(y_.shape(), dgy.shape(), "conv2d::backward_tangent (dgy)");
    const T* dgz = dgy.data();
    if constexpr (!linear_act) {
      dgz_.resize(y_.shape());
      elementwise<D>::act_backward_tangent(dev_, act_, z_.data(), d_.data(), dz_.data(),
                                           gy_->data(), dgy.data(), dgz_.data(), dgz_.size());
      dgz = dgz_.data();
    }
    T* dgx = nullptr;
    if (wants_input(g)) dgx = dgx_.resize(x_->shape()).data();
    const bool params = wants_params(g);
    kernels::backward(dev_, g_, x_->data(), w_.data(), dgz, static_cast<const T*>(nullptr), dgx,
                      params ? gw_.data() : nullptr, params && has_bias_ ? gb_.data() : nullptr,
                      ws_);
    if (params)  // the weight gradient's dependence on x: corr(gz, dx)
      kernels::backward(dev_, g_, dx_->data(), w_.data(), gy_->data(), scale_ptr(),
                        static_cast<T*>(nullptr), gw_.data(), static_cast<T*>(nullptr), ws_);
    return dgx_;
  }

 private:
  conv_geometry geometry(const shape& in) const {
    return conv_geometry::make(in, cout_, k_, stride_, pad_);
  }
  void check_input(const shape& s, const char* where) const {
    EBM_REQUIRE(s.rank() == 4, where, ": expected an NCHW input [N, ", cin_,
                ", H, W] of rank 4, got ", s, " of rank ", s.rank());
    EBM_REQUIRE(s[1] == cin_, where, ": expected ", cin_, " input channels ([N, ", cin_,
                ", H, W]), got ", s[1], " in ", s);
    EBM_REQUIRE(s[2] + 2 * pad_ >= k_ && s[3] + 2 * pad_ >= k_, where, ": input ", s,
                " is smaller than the ", k_, "x", k_, " kernel (with padding ", pad_,
                "); expected H + 2p >= k and W + 2p >= k");
  }
  /// The state every forward sets: input, geometry, y's shape (returned).
  shape begin_forward(const tensor_type& x, const char* where) {
    check_input(x.shape(), where);
    x_ = &x;
    gy_ = dx_ = nullptr;
    g_ = geometry(x.shape());
    const shape ys = g_.output_shape();
    y_.resize(ys);
    return ys;
  }
  void require_tangents(const char* where) const {
    EBM_REQUIRE(tangents_ready_, where, ": the last forward ran inside a first_order_scope, which keeps no state",
                " for tangent passes (z of the ", cout_, "-channel convolution); run forward outside the scope");
  }
  const T* bias_ptr() const { return has_bias_ ? b_.data() : nullptr; }
  /// f'(z) as the scale of the backward and tangent passes (none for identity).
  const T* scale_ptr() const {
    if constexpr (linear_act) return nullptr;
    else return d_.data();
  }

  index_t cin_, cout_, k_, stride_, pad_;
  bool has_bias_;
  bool tangents_ready_ = true;  // z_ holds the last forward's z (false after a first-order forward)
  D dev_;
  Act act_;
  tensor_type w_, gw_, b_, gb_;
  conv_geometry g_;
  const tensor_type* x_ = nullptr;
  const tensor_type* gy_ = nullptr;
  const tensor_type* dx_ = nullptr;
  tensor_type y_, z_, d_, gx_, dz_, dy_, dgz_, dgx_;
  typename kernels::template workspace<T> ws_;
};

}  // namespace ebm::nn
