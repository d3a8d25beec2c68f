#pragma once
// activation<Act, T, D>: an elementwise layer from an activation policy.
// forward stores f'(x) so that backward and forward_tangent are one multiply;
// backward_tangent uses f''(x): dgx = f''(x) dx gy + f'(x) dgy.
#include "../device/cpu/elementwise.hpp"
#include "activation.hpp"
#include "layer.hpp"

namespace ebm::nn {

template <class Act, class T = float, class D = cpu>
class activation {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  explicit activation(Act a = {}, D dev = {}) : act_(a), dev_(dev) {}

  const Act& policy() const { return act_; }

  const tensor_type& forward(const tensor_type& x) {
    x_ = &x;
    y_.resize(x.shape());
    d_.resize(x.shape());
    elementwise<D>::act_forward(dev_, act_, x.data(), y_.data(), d_.data(), x.size());
    return y_;
  }
  const tensor_type& backward(const tensor_type& gy, grad g = grad::input) {
    require_same_shape(y_.shape(), gy.shape(), "activation::backward (gy)");
    gy_ = &gy;
    if (wants_input(g)) {
      gx_.resize(gy.shape());
      elementwise<D>::mul(dev_, d_.data(), gy.data(), gx_.data(), gy.size());
    }
    return gx_;
  }
  const tensor_type& forward_tangent(const tensor_type& dx) {
    require_same_shape(d_.shape(), dx.shape(), "activation::forward_tangent (dx)");
    dx_ = &dx;
    dy_.resize(dx.shape());
    elementwise<D>::mul(dev_, d_.data(), dx.data(), dy_.data(), dx.size());
    return dy_;
  }
  const tensor_type& backward_tangent(const tensor_type& dgy, grad g = grad::input) {
    require_same_shape(d_.shape(), dgy.shape(), "activation::backward_tangent (dgy)");
    EBM_REQUIRE(gy_ && dx_, "activation::backward_tangent: call backward and forward_tangent first");
    if (wants_input(g)) {
      dgx_.resize(dgy.shape());
      elementwise<D>::act_backward_tangent(dev_, act_, x_->data(), d_.data(), dx_->data(),
                                           gy_->data(), dgy.data(), dgx_.data(), dgy.size());
    }
    return dgx_;
  }

 private:
  Act act_;
  D dev_;
  const tensor_type* x_ = nullptr;
  const tensor_type* gy_ = nullptr;
  const tensor_type* dx_ = nullptr;
  tensor_type y_, d_, gx_, dy_, dgx_;
};

template <class T = float, class D = cpu> using swish = activation<act::swish, T, D>;
template <class T = float, class D = cpu> using silu = activation<act::swish, T, D>;
template <class T = float, class D = cpu> using gelu = activation<act::gelu, T, D>;
template <class T = float, class D = cpu> using celu = activation<act::celu, T, D>;
template <class T = float, class D = cpu> using softplus = activation<act::softplus, T, D>;
template <class T = float, class D = cpu> using relu = activation<act::relu, T, D>;
template <class T = float, class D = cpu> using leaky_relu = activation<act::leaky_relu, T, D>;
template <class T = float, class D = cpu> using tanh = activation<act::tanh, T, D>;
template <class T = float, class D = cpu> using sigmoid = activation<act::sigmoid, T, D>;

}  // namespace ebm::nn
