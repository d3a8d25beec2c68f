// The EGC network's layers on the device against the same layers on the
// host: logsumexp_energy, group_norm, attention_pool, concat (and
// concat_channels / split_channels), the sinusoidal and label embeddings, in
// every derivative pass they have and every parameter gradient; then whole
// EGC energies (UNet, ResNet, label input) in all four passes, the
// classifier head and the joint-loss tangent with a logit gradient.
#include <doctest/doctest.h>

#include <ebm/energy/egc_model.hpp>
#include <ebm/nn/attention_pool.hpp>
#include <ebm/nn/concat.hpp>
#include <ebm/nn/conv2d.hpp>
#include <ebm/nn/embedding.hpp>
#include <ebm/nn/group_norm.hpp>
#include <ebm/nn/logsumexp.hpp>
#include <string_view>
#include <vector>

#include "../energy/egc_tiny.hpp"
#include "common.hpp"
#include "network_check.hpp"

using namespace ebm;
using namespace ebm::cuda_test;

namespace {

/// Adds U(-amount, amount) to every parameter of a host network, so that
/// weights initialised to 1 and biases to 0 (group norm) take generic values.
template <class T, class Net>
void perturb(Net& net, T amount, std::uint64_t seed) {
  philox rng(seed);
  visit_params(net, [&](std::string_view, tensor<T>& v, tensor<T>&) {
    const tensor<T> noise = uniform<T>(v.shape(), rng, -amount, amount);
    for (index_t i = 0; i < v.size(); ++i) v[i] += noise[i];
  });
}

template <class T>
void check_logsumexp(double tolerance) {
  CAPTURE(sizeof(T));
  for (const shape& in : {shape{4, 7}, shape{3, 5, 6, 7}, shape{2, 10, 32, 32}, shape{2, 1, 3}}) {
    CAPTURE(in);
    nn::logsumexp_energy<T> h;
    nn::logsumexp_energy<T, cuda> d;
    check_network<T>(h, d, in, tolerance, 31 + in.rank());
    CHECK(max_rel_diff(d.probabilities(), h.probabilities()) <= tolerance);
  }
}

template <class T>
void check_group_norm(double tolerance) {
  CAPTURE(sizeof(T));
  struct geometry {
    shape in;
    index_t groups;
  };
  // [N, C] input, a few positions, and groups of 4 x 256 elements (more than
  // one element per thread of a reduction block).
  for (const geometry& g : {geometry{shape{5, 6}, 3}, geometry{shape{3, 8, 5, 4}, 4},
                            geometry{shape{2, 32, 16, 16}, 8}, geometry{shape{2, 4, 3, 3, 2}, 1}}) {
    CAPTURE(g.in);
    CAPTURE(g.groups);
    nn::group_norm<T> h(g.in[1], g.groups);
    nn::group_norm<T, cuda> d(g.in[1], g.groups);
    perturb<T>(h, T(0.5), 3);
    check_network<T>(h, d, g.in, tolerance, 41);
  }
}

template <class T>
void check_attention_pool(double tolerance) {
  CAPTURE(sizeof(T));
  for (const shape& in : {shape{3, 4}, shape{3, 5, 6, 7}, shape{2, 10, 32, 32}, shape{1, 3, 1, 1}}) {
    CAPTURE(in);
    nn::attention_pool<T> h;
    nn::attention_pool<T, cuda> d;
    check_network<T>(h, d, in, tolerance, 51);
    CHECK(max_rel_diff(d.weights(), h.weights()) <= tolerance);
  }
}

template <class T>
void check_concat(double tolerance) {
  CAPTURE(sizeof(T));
  // The free functions: a copy, so exact.
  philox rng(61);
  const tensor<T> a = uniform<T>(shape{3, 2, 4, 5}, rng), b = uniform<T>(shape{3, 5, 4, 5}, rng);
  tensor<T> out, ga, gb;
  tensor<T, cuda> outd, gad, gbd;
  nn::concat_channels(a, b, out);
  nn::concat_channels(to_device(a), to_device(b), outd);
  CHECK(outd.shape() == out.shape());
  CHECK(bit_mismatches(to_host(outd), out) == 0);
  nn::split_channels(out, 2, ga, gb);
  nn::split_channels(outd, 2, gad, gbd);
  CHECK(bit_mismatches(to_host(gad), ga) == 0);
  CHECK(bit_mismatches(to_host(gbd), gb) == 0);
  CHECK(bit_mismatches(ga, a) == 0);
  // An empty side.
  nn::split_channels(outd, 0, gad, gbd);
  CHECK(gad.size() == 0);
  CHECK(bit_mismatches(to_host(gbd), out) == 0);

  // The block: two convolution branches of the same input.
  using conv = nn::conv2d<T>;
  using conv_d = nn::conv2d<T, cuda>;
  nn::concat<conv, conv> h(conv(2, 3, 3, 1, 1), conv(2, 1, 1));
  nn::concat<conv_d, conv_d> d(conv_d(2, 3, 3, 1, 1), conv_d(2, 1, 1));
  check_network<T>(h, d, shape{3, 2, 5, 6}, tolerance, 62);
}

template <class T>
void check_embeddings() {
  CAPTURE(sizeof(T));
  // Sinusoidal: evaluated in double on both sides, then rounded.
  nn::sinusoidal_embedding<T> sh(16);
  nn::sinusoidal_embedding<T, cuda> sd(16);
  philox rng(71);
  const tensor<T> t = uniform<T>(shape{9}, rng, T(0), T(1000));
  CHECK(max_rel_diff(sd.forward(to_device(t)), sh.forward(t)) <= tol<T>(1e-6, 1e-12));

  // Label table: the same N(0, 1) draws, rows gathered exactly, and the
  // gradient (repeated and null labels) added in the host's order.
  nn::label_embedding<T> h(5, 6);
  nn::label_embedding<T, cuda> d(5, 6);
  philox r1(72), r2(72);
  h.init(r1);
  d.init(r2);
  CHECK(bit_mismatches(to_host(d.weight()), h.weight()) == 0);
  const std::vector<int> labels{0, 3, -1, 3, 4, 0, -1, 3};
  CHECK(bit_mismatches(to_host(d.forward(labels)), h.forward(labels)) == 0);
  zero_grad(h);
  zero_grad(d);
  const tensor<T> gy = uniform<T>(shape{8, 6}, rng), dgy = uniform<T>(shape{8, 6}, rng);
  const auto gyd = to_device(gy), dgyd = to_device(dgy);
  h.backward(gy, grad::both);
  d.backward(gyd, grad::both);
  check_grads<T>(h, d, 0.0);
  h.backward_tangent(dgy, grad::both);
  d.backward_tangent(dgyd, grad::both);
  check_grads<T>(h, d, 0.0);
  // grad::input alone leaves the table gradient alone.
  d.backward(gyd, grad::input);
  check_grads<T>(h, d, 0.0);
}

using ebm::test_configs::tiny;

/// A whole EGC energy: the four passes and parameter gradients through
/// check_network, then the classifier head (pooled logits and their
/// backward) and the joint-loss tangent that adds a logit gradient.
template <class T>
void check_egc(bool unet, bool labels, double tolerance) {
  CAPTURE(sizeof(T));
  CAPTURE(unet);
  CAPTURE(labels);
  egc::model<T> h(tiny(unet, labels));
  egc::model<T, cuda> d(tiny(unet, labels));
  perturb<T>(h, T(0.1), 81);
  tensor<T> t(shape{3});
  t[0] = T(3), t[1] = T(40), t[2] = T(977);
  const auto td = to_device(t);
  h.set_time(t);
  d.set_time(td);
  const std::vector<int> y{2, -1, 0};
  if (labels) {
    h.set_labels(y);
    d.set_labels(y);
  }
  const shape in{3, 1, 8, 8};
  check_network<T>(h, d, in, tolerance, 82);

  philox rng(83);
  const tensor<T> x = uniform<T>(in, rng), dx = uniform<T>(in, rng);
  const auto xd = to_device(x), dxd = to_device(dx);
  zero_grad(h);
  zero_grad(d);
  h.forward(x);
  d.forward(xd);
  CHECK(max_rel_diff(d.pixel_logits(), h.pixel_logits()) <= tolerance);
  CHECK(max_rel_diff(d.logits(), h.logits()) <= tolerance);
  const tensor<T> gz = uniform<T>(shape{3, 3}, rng);
  const auto gzd = to_device(gz);
  CHECK(max_rel_diff(d.logits_backward(gzd, grad::both), h.logits_backward(gz, grad::both)) <=
        tolerance);
  check_grads<T>(h, d, tolerance);

  // EGC's joint loss: forward, backward, tangent, then backward_tangent
  // with the cross-entropy's logit gradient folded in.
  zero_grad(h);
  zero_grad(d);
  const tensor<T> gy = uniform<T>(shape{3, 1}, rng), dgy = uniform<T>(shape{3, 1}, rng);
  const auto gyd = to_device(gy), dgyd = to_device(dgy);
  h.forward(x);
  d.forward(xd);
  CHECK(max_rel_diff(d.backward(gyd, grad::both), h.backward(gy, grad::both)) <= tolerance);
  CHECK(max_rel_diff(d.forward_tangent(dxd), h.forward_tangent(dx)) <= tolerance);
  h.logits();
  d.logits();
  CHECK(max_rel_diff(d.backward_tangent(dgyd, grad::both, &gzd),
                     h.backward_tangent(dgy, grad::both, &gz)) <= tolerance);
  check_grads<T>(h, d, tolerance);
}

}  // namespace

TEST_CASE("cuda: logsumexp_energy on the device matches the host in all four passes") {
  EBM_REQUIRE_CUDA_DEVICE();
  check_logsumexp<double>(1e-11);
  check_logsumexp<float>(1e-4);
}

TEST_CASE("cuda: group_norm on the device matches the host (passes and parameter gradients)") {
  EBM_REQUIRE_CUDA_DEVICE();
  check_group_norm<double>(1e-10);
  check_group_norm<float>(1e-4);
}

TEST_CASE("cuda: attention_pool on the device matches the host in all four passes") {
  EBM_REQUIRE_CUDA_DEVICE();
  check_attention_pool<double>(1e-10);
  check_attention_pool<float>(1e-4);
}

TEST_CASE("cuda: concat_channels, split_channels and the concat block on the device") {
  EBM_REQUIRE_CUDA_DEVICE();
  check_concat<double>(1e-10);
  check_concat<float>(1e-4);
}

TEST_CASE("cuda: sinusoidal and label embeddings on the device match the host") {
  EBM_REQUIRE_CUDA_DEVICE();
  check_embeddings<double>();
  check_embeddings<float>();
}

TEST_CASE("cuda: whole EGC energies on the device match the host (UNet, ResNet, label input)") {
  EBM_REQUIRE_CUDA_DEVICE();
  for (auto [unet, labels] : {std::pair{true, false}, std::pair{false, false}, std::pair{true, true}}) {
    check_egc<double>(unet, labels, 1e-9);
    check_egc<float>(unet, labels, 5e-4);
  }
}
