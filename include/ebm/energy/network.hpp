#pragma once
// network_energy<Net>: adapts a block whose output is one number per sample
// ([N, 1] or [N]) to the energy concept.  It refers to the network (does not
// own it), so a trainer and a sampler can share one model.
#include <concepts>

#include "../nn/first_order.hpp"
#include "../nn/layer.hpp"
#include "concept.hpp"

namespace ebm {

template <class Net>
class network_energy {
 public:
  using value_type = typename Net::value_type;
  using device_type = typename Net::device_type;
  using tensor_type = tensor<value_type, device_type>;
  static_assert(differentiable_block<Net>,
                "network_energy: the network must follow the derivative contract (ebm/nn/layer.hpp)");

  explicit network_energy(Net& net) : net_(&net) {}

  Net& network() { return *net_; }
  /// The network's device, when it names one (samplers run their own loops
  /// on its thread pool).
  device_type device() const
    requires requires(const Net& n) { { n.device() } -> std::convertible_to<device_type>; }
  {
    return net_->device();
  }

  const tensor_type& energy(const tensor_type& x) {
    const tensor_type& y = net_->forward(x);
    check_output(y, x);
    e_ = y;  // tensor assignment: a copy on the tensor's own device
    e_.reshape(shape{x.extent(0)});
    return e_;
  }
  /// Energies and their input gradient g, in one first-order pass
  /// (first_order_scope): the network keeps no state for tangent passes.
  const tensor_type& energy_and_grad(const tensor_type& x, tensor_type& g) {
    first_order_scope first_order;
    energy(x);
    ones_.resize(net_out_shape_);
    ones_.fill(value_type(1));
    const tensor_type& gx = net_->backward(ones_, grad::input);
    g = gx;
    return e_;
  }

 private:
  void check_output(const tensor_type& y, const tensor_type& x) {
    EBM_REQUIRE(y.rank() >= 1 && y.extent(0) == x.extent(0) && y.size() == x.extent(0),
                "network_energy: the network must output one energy per sample ([N, 1]); for input ",
                x.shape(), " it returned ", y.shape());
    net_out_shape_ = y.shape();
  }
  Net* net_;
  shape net_out_shape_;
  tensor_type e_, ones_;
};

template <class Net>
network_energy<Net> energy_of(Net& net) {
  return network_energy<Net>(net);
}

}  // namespace ebm
