#pragma once
// Channel concatenation.
//
//   concat_channels(a, b, out)       out = [a, b] along axis 1: a [N, Ca, ...]
//                                    and b [N, Cb, ...] with equal N and
//                                    spatial extents give [N, Ca + Cb, ...]
//   split_channels(g, ca, ga, gb)    its adjoint (and inverse): the first ca
//                                    channels of g into ga, the rest into gb
//   nn::concat{A, B}                 y = [A(x), B(x)] over one input
//
// The block is linear in its branches' outputs: with (ga, gb) = split(gy),
//   forward           y   = [A(x), B(x)]
//   backward          gx  = A.backward(ga) + B.backward(gb)
//   forward_tangent   dy  = [A.forward_tangent(dx), B.forward_tangent(dx)]
//   backward_tangent  dgx = A.backward_tangent(dga) + B.backward_tangent(dgb),
//                     (dga, dgb) = split(dgy)
// and each branch adds its own parameter gradients (and their tangents).
// Parameters and buffers are named "first.*" and "second.*".
//
// On devices other than the host the copies are the device's strided copies
// (concat_kernels<D>, device/cuda/concat.hpp), on the output's stream.
#include <algorithm>
#include <type_traits>
#include <utility>

#include "../core/tensor.hpp"
#include "../device/cpu/elementwise.hpp"
#include "init.hpp"
#include "layer.hpp"

namespace ebm {
/// Strided copies of concat_channels / split_channels on devices other than
/// the host (device/cuda/concat.hpp).
template <class D>
struct concat_kernels;
}  // namespace ebm

namespace ebm::nn {

namespace detail {
/// Checks that a and b can be concatenated along the channel axis; returns
/// the concatenated shape.
inline shape concat_shape(const shape& a, const shape& b, const char* where) {
  EBM_REQUIRE(a.rank() >= 2, where, ": expected the first input as [N, C, ...] (rank >= 2), got ", a);
  EBM_REQUIRE(b.rank() >= 2, where, ": expected the second input as [N, C, ...] (rank >= 2), got ", b);
  bool same = a.rank() == b.rank() && a[0] == b[0];
  for (int i = 2; same && i < a.rank(); ++i) same = a[i] == b[i];
  if (!same) {
    shape expected = a.with(1, b[1]);  // b with a's batch and spatial extents
    throw error(ebm::detail::concat(where, ": the inputs must agree on every extent but the channels; "
                                    "first is ", a, ", so expected the second as ", expected,
                                    " but got ", b));
  }
  return a.with(1, a[1] + b[1]);
}
}  // namespace detail

/// out = the channels of a followed by those of b (out is resized to
/// [N, Ca + Cb, ...]).
template <class T, class D>
void concat_channels(const tensor<T, D>& a, const tensor<T, D>& b, tensor<T, D>& out) {
  const shape s = detail::concat_shape(a.shape(), b.shape(), "concat_channels");
  const index_t n = s[0];
  const index_t sa = n > 0 ? a.size() / n : 0, sb = n > 0 ? b.size() / n : 0;
  out.resize(s);
  if constexpr (std::is_same_v<D, cpu>) {
    for (index_t i = 0; i < n; ++i) {
      std::copy_n(a.data() + i * sa, sa, out.data() + i * (sa + sb));
      std::copy_n(b.data() + i * sb, sb, out.data() + i * (sa + sb) + sa);
    }
  } else {
    const D dev = out.device();
    concat_kernels<D>::template copy_rows<T>(dev, a.data(), sa, out.data(), sa + sb, sa, n);
    concat_kernels<D>::template copy_rows<T>(dev, b.data(), sb, out.data() + sa, sa + sb, sb, n);
  }
}

/// The adjoint of concat_channels: ga = the first ca channels of g, gb = the
/// remaining ones (both resized).
template <class T, class D>
void split_channels(const tensor<T, D>& g, index_t ca, tensor<T, D>& ga, tensor<T, D>& gb) {
  EBM_REQUIRE(g.rank() >= 2, "split_channels: expected g as [N, C, ...] (rank >= 2), got ", g.shape());
  EBM_REQUIRE(ca >= 0 && ca <= g.extent(1), "split_channels: expected the split point in [0, ",
              g.extent(1), "] for g of shape ", g.shape(), ", got ", ca);
  const index_t n = g.extent(0), c = g.extent(1);
  ga.resize(g.shape().with(1, ca));
  gb.resize(g.shape().with(1, c - ca));
  const index_t sa = n > 0 ? ga.size() / n : 0, sb = n > 0 ? gb.size() / n : 0;
  if constexpr (std::is_same_v<D, cpu>) {
    for (index_t i = 0; i < n; ++i) {
      std::copy_n(g.data() + i * (sa + sb), sa, ga.data() + i * sa);
      std::copy_n(g.data() + i * (sa + sb) + sa, sb, gb.data() + i * sb);
    }
  } else {
    const D dev = ga.device();
    concat_kernels<D>::template copy_rows<T>(dev, g.data(), sa + sb, ga.data(), sa, sa, n);
    concat_kernels<D>::template copy_rows<T>(dev, g.data() + sa, sa + sb, gb.data(), sb, sb, n);
  }
}

/// y = [A(x), B(x)] along the channel axis.
template <class A, class B>
class concat {
 public:
  using value_type = typename A::value_type;
  using device_type = typename A::device_type;
  using tensor_type = tensor<value_type, device_type>;
  using T = value_type;
  static_assert(std::is_same_v<value_type, typename B::value_type> &&
                    std::is_same_v<device_type, typename B::device_type>,
                "concat: both branches must share scalar and device");

  concat(A a, B b, device_type dev = {}) : a_(std::move(a)), b_(std::move(b)), dev_(dev) {}

  A& first() { return a_; }
  B& second() { return b_; }
  const A& first() const { return a_; }
  const B& second() const { return b_; }

  const tensor_type& forward(const tensor_type& x) {
    const tensor_type& ya = a_.forward(x);
    const tensor_type& yb = b_.forward(x);
    detail::concat_shape(ya.shape(), yb.shape(), "concat::forward (outputs of 'first' and 'second')");
    ca_ = ya.extent(1);
    concat_channels(ya, yb, y_);
    return y_;
  }
  const tensor_type& backward(const tensor_type& gy, grad g = grad::input) {
    require_same_shape(y_.shape(), gy.shape(), "concat::backward (gy)");
    split_channels(gy, ca_, ga_, gb_);
    return sum(a_.backward(ga_, g), b_.backward(gb_, g), g, gx_, "backward");
  }
  const tensor_type& forward_tangent(const tensor_type& dx) {
    const tensor_type& da = a_.forward_tangent(dx);
    const tensor_type& db = b_.forward_tangent(dx);
    detail::concat_shape(da.shape(), db.shape(),
                         "concat::forward_tangent (tangents of 'first' and 'second')");
    concat_channels(da, db, dy_);
    return dy_;
  }
  const tensor_type& backward_tangent(const tensor_type& dgy, grad g = grad::input) {
    require_same_shape(y_.shape(), dgy.shape(), "concat::backward_tangent (dgy)");
    split_channels(dgy, ca_, dga_, dgb_);
    return sum(a_.backward_tangent(dga_, g), b_.backward_tangent(dgb_, g), g, dgx_,
               "backward_tangent");
  }

  template <class F>
  void visit_params(F&& f) {
    ebm::visit_params(a_, ebm::detail::prefixed("first", f));
    ebm::visit_params(b_, ebm::detail::prefixed("second", f));
  }
  template <class F>
  void visit_buffers(F&& f) {
    ebm::visit_buffers(a_, ebm::detail::prefixed_buffer("first", f));
    ebm::visit_buffers(b_, ebm::detail::prefixed_buffer("second", f));
  }
  void on_buffers_loaded() {
    ebm::buffers_loaded(a_);
    ebm::buffers_loaded(b_);
  }
  void init(philox& rng) {
    initialize(a_, rng);
    initialize(b_, rng);
  }
  void refresh() {
    ebm::refresh(a_);
    ebm::refresh(b_);
  }

 private:
  const tensor_type& sum(const tensor_type& ga, const tensor_type& gb, grad g, tensor_type& out,
                         const char* pass) {
    if (!wants_input(g)) return out;
    if (!(ga.shape() == gb.shape()))
      throw error(ebm::detail::concat("concat::", pass,
                                      ": the branches 'first' and 'second' disagree on the input "
                                      "gradient's shape: ",
                                      ga.shape(), " vs ", gb.shape()));
    out.resize(ga.shape());
    elementwise<device_type>::axpby(dev_, T(1), ga.data(), T(1), gb.data(), out.data(), out.size());
    return out;
  }

  A a_;
  B b_;
  device_type dev_;
  index_t ca_ = 0;  // channels of A's output in the last forward
  tensor_type y_, gx_, dy_, dgx_;
  // Split gy and dgy live in separate buffers: the branches keep pointers to
  // the gy they saw until their backward_tangent has run.
  tensor_type ga_, gb_, dga_, dgb_;
};

}  // namespace ebm::nn
