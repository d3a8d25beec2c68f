#pragma once
// Host-against-device checks of whole networks, shared by the CUDA tests:
// copy a host network's parameters (and buffers) to its device twin, then run
// the four derivative passes on both and compare every output and every
// parameter gradient.
#include <doctest/doctest.h>

#include <ebm/nn/layer.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common.hpp"

namespace ebm::cuda_test {

/// Copies the parameters a network visits (visit_params order) host -> device.
template <class T>
void copy_params(auto& from_host, auto& to_dev) {
  auto h = collect_params(from_host);
  auto d = collect_params(to_dev);
  REQUIRE(h.size() == d.size());
  for (std::size_t i = 0; i < h.size(); ++i) copy(*h[i].value, *d[i].value);
}

/// Copies the buffers (e.g. spectral norm's power-iteration vectors) host ->
/// device and tells both networks they were loaded.
template <class T>
void copy_buffers(auto& from_host, auto& to_dev) {
  std::vector<tensor<T>*> h;
  std::vector<tensor<T, cuda>*> d;
  visit_buffers(from_host, [&](std::string_view, tensor<T>& b) { h.push_back(&b); });
  visit_buffers(to_dev, [&](std::string_view, tensor<T, cuda>& b) { d.push_back(&b); });
  REQUIRE(h.size() == d.size());
  for (std::size_t i = 0; i < h.size(); ++i) copy(*h[i], *d[i]);
  // The host too: derived state must be recomputed the same way on both
  // sides.  spectral_norm's v after init() is the last power iteration's
  // normalize(W^T u_prev), while on_buffers_loaded() sets normalize(W^T u);
  // the two differ by the iteration's convergence gap (1e-6..5e-5 relative
  // in sigma and the gradients of the small CF-EBM), far above the tolerances.
  buffers_loaded(from_host);
  buffers_loaded(to_dev);
}

/// Every parameter (grads = false) or parameter gradient (grads = true) of
/// the two networks agrees, in visit_params order.
template <class T>
void check_param_tensors(auto& host_net, auto& dev_net, double tolerance, bool grads) {
  auto h = collect_params(host_net);
  auto d = collect_params(dev_net);
  REQUIRE(h.size() == d.size());
  for (std::size_t i = 0; i < h.size(); ++i) {
    CAPTURE(h[i].name);
    CHECK(max_rel_diff(grads ? *d[i].grad : *d[i].value, grads ? *h[i].grad : *h[i].value) <= tolerance);
  }
}
/// The parameter gradients of the two networks agree.
template <class T>
void check_grads(auto& host_net, auto& dev_net, double tolerance) {
  check_param_tensors<T>(host_net, dev_net, tolerance, true);
}
/// The parameters of the two networks agree.
template <class T>
void check_params(auto& host_net, auto& dev_net, double tolerance) {
  check_param_tensors<T>(host_net, dev_net, tolerance, false);
}

/// Copies the parameters, then runs forward, backward (input and parameter
/// gradients), forward tangent and backward tangent on a host network and
/// its device copy with the same inputs (drawn from `seed`).
template <class T, class HostNet, class DevNet>
void check_network(HostNet& hnet, DevNet& dnet, const shape& in, double tolerance, std::uint64_t seed) {
  copy_params<T>(hnet, dnet);
  zero_grad(hnet);
  zero_grad(dnet);
  philox rng(seed);
  const tensor<T> x = uniform<T>(in, rng), dx = uniform<T>(in, rng);
  const auto xd = to_device(x), dxd = to_device(dx);
  const tensor<T>& y = hnet.forward(x);
  CHECK(max_rel_diff(dnet.forward(xd), y) <= tolerance);
  const tensor<T> gy = uniform<T>(y.shape(), rng), dgy = uniform<T>(y.shape(), rng);
  const auto gyd = to_device(gy), dgyd = to_device(dgy);
  CHECK(max_rel_diff(dnet.backward(gyd, grad::both), hnet.backward(gy, grad::both)) <= tolerance);
  CHECK(max_rel_diff(dnet.forward_tangent(dxd), hnet.forward_tangent(dx)) <= tolerance);
  CHECK(max_rel_diff(dnet.backward_tangent(dgyd, grad::both), hnet.backward_tangent(dgy, grad::both)) <=
        tolerance);
  check_grads<T>(hnet, dnet, tolerance);
}

}  // namespace ebm::cuda_test
