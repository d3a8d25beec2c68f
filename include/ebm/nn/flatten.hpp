#pragma once
// flatten<T, D>: [N, d1, d2, ...] -> [N, d1 d2 ...], keeping the row-major
// element order.  Every pass is a reshaping copy (a block returns a tensor
// of its own, so the data is copied rather than aliased).
#include "../core/tensor.hpp"
#include "layer.hpp"

namespace ebm::nn {

template <class T = float, class D = cpu>
class flatten {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  const tensor_type& forward(const tensor_type& x) {
    EBM_REQUIRE(x.rank() >= 1, "flatten::forward: expected an input [N, ...] of rank >= 1, got ",
                x.shape());
    in_ = x.shape();
    out_ = shape{in_[0], in_.sample_size()};
    return copy(x, y_, out_);
  }
  const tensor_type& backward(const tensor_type& gy, grad g = grad::input) {
    require_same_shape(out_, gy.shape(), "flatten::backward (gy)");
    if (wants_input(g)) copy(gy, gx_, in_);
    return gx_;
  }
  const tensor_type& forward_tangent(const tensor_type& dx) {
    require_same_shape(in_, dx.shape(), "flatten::forward_tangent (dx)");
    return copy(dx, dy_, out_);
  }
  const tensor_type& backward_tangent(const tensor_type& dgy, grad g = grad::input) {
    require_same_shape(out_, dgy.shape(), "flatten::backward_tangent (dgy)");
    if (wants_input(g)) copy(dgy, dgx_, in_);
    return dgx_;
  }

 private:
  // Tensor assignment copies on the tensor's own device (a host loop over
  // data() would read device memory on the host).
  static const tensor_type& copy(const tensor_type& from, tensor_type& to, const shape& s) {
    to = from;
    to.reshape(s);
    return to;
  }
  shape in_, out_;
  tensor_type y_, gx_, dy_, dgx_;
};

}  // namespace ebm::nn
