// EGC training and sampling on the device against the host, with one seed:
// the denoising Fisher objective on a small network, the cross-entropy (on
// logits and through a network), the whole EGC loss on a tiny EGC model
// (Fisher term with exact second derivatives, the pooled logits' cross-
// entropy, label drop, unsupervised) in its value, parts and every parameter
// gradient, then guided DDIM sampling, DDPM steps and RePaint driven by the
// model's score, and the non-finite check of a reverse step.
#include <doctest/doctest.h>

#include <ebm/energy/egc_model.hpp>
#include <ebm/nn/elementwise.hpp>
#include <ebm/nn/linear.hpp>
#include <ebm/nn/sequential.hpp>
#include <ebm/objective/cross_entropy.hpp>
#include <ebm/objective/denoising_fisher.hpp>
#include <ebm/objective/egc.hpp>
#include <ebm/sample/diffusion.hpp>
#include <ebm/sample/repaint.hpp>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include "../energy/egc_tiny.hpp"
#include "common.hpp"
#include "network_check.hpp"

using namespace ebm;
using namespace ebm::cuda_test;

namespace {

/// Relative difference of two scalars (absolute near 0).
double rel(double a, double b) { return std::abs(a - b) / (1.0 + std::abs(b)); }

/// Adds U(-amount, amount) to every parameter of a host network, so that the
/// group norms' unit weights and zero biases take generic values.
template <class T, class Net>
void perturb(Net& net, T amount, std::uint64_t seed) {
  philox rng(seed);
  visit_params(net, [&](std::string_view, tensor<T>& v, tensor<T>&) {
    const tensor<T> noise = uniform<T>(v.shape(), rng, -amount, amount);
    for (index_t i = 0; i < v.size(); ++i) v[i] += noise[i];
  });
}

using ebm::test_configs::tiny;

/// A host EGC model, initialised and perturbed, and its device twin.
template <class T>
struct egc_twins {
  egc::model<T> host;
  egc::model<T, cuda> dev;
  explicit egc_twins(const egc::config& c) : host(c), dev(c) {
    philox rng(21);
    host.init(rng);
    perturb<T>(host, T(0.1), 22);
    copy_params<T>(host, dev);
  }
};

/// One egc_loss evaluation on both models: loss, parts and gradients agree.
template <class T>
void compare_egc_step(egc_twins<T>& m, objective::egc_loss<T>& lh, objective::egc_loss<T, cuda>& ld,
                      const auto& call_host, const auto& call_dev, double tolerance) {
  zero_grad(m.host);
  zero_grad(m.dev);
  const T vh = call_host(), vd = call_dev();
  CHECK(rel(vd, vh) <= tolerance);
  CHECK(rel(ld.fisher(), lh.fisher()) <= tolerance);
  CHECK(rel(ld.cross_entropy(), lh.cross_entropy()) <= tolerance);
  CHECK(ld.accuracy() == lh.accuracy());
  CHECK(max_rel_diff(ld.noised(), lh.noised()) <= tolerance);
  CHECK(max_rel_diff(ld.timesteps(), lh.timesteps()) == 0);
  check_grads<T>(m.host, m.dev, tolerance);
}

template <class T>
void check_denoising_fisher(double tolerance) {
  CAPTURE(sizeof(T));
  for (auto target : {objective::fisher_target::noise, objective::fisher_target::score,
                      objective::fisher_target::noise_unscaled}) {
    CAPTURE(int(target));
    nn::sequential host{nn::linear<T>(6, 16), nn::swish<T>{}, nn::linear<T>(16, 1)};
    nn::sequential dev{nn::linear<T, cuda>(6, 16), nn::swish<T, cuda>{}, nn::linear<T, cuda>(16, 1)};
    nn::initialize(host, 5);
    copy_params<T>(host, dev);
    objective::denoising_fisher<T> fh(noise_schedule::cosine(100), target);
    objective::denoising_fisher<T, cuda> fd(noise_schedule::cosine(100), target);
    fh.set_timestep_range(3, 90);
    fd.set_timestep_range(3, 90);
    philox data(6);
    const tensor<T> x0 = uniform<T>(shape{7, 6}, data);
    const auto x0d = to_device(x0);
    // Random t and noise from one seed: the same draws on both.
    philox rh(7), rd(7);
    for (int step = 0; step < 2; ++step) {
      CAPTURE(step);
      zero_grad(host);
      zero_grad(dev);
      const T vh = fh(host, x0, rh, T(0.5)), vd = fd(dev, x0d, rd, T(0.5));
      CHECK(rel(vd, vh) <= tolerance);
      CHECK(max_rel_diff(fd.timesteps(), fh.timesteps()) == 0);
      CHECK(max_rel_diff(fd.noise(), fh.noise()) <= 1e-6);
      CHECK(max_rel_diff(fd.noised(), fh.noised()) <= tolerance);
      check_grads<T>(host, dev, tolerance);
      CHECK(rh.offset() == rd.offset());
    }
    // Given t and noise; evaluate() leaves the gradients alone.
    const std::vector<int> t{0, 5, 50, 99, 12, 64, 80};
    const tensor<T> eps = uniform<T>(shape{7, 6}, data);
    const auto epsd = to_device(eps);
    zero_grad(host);
    zero_grad(dev);
    CHECK(rel(fd(dev, x0d, t, epsd), fh(host, x0, t, eps)) <= tolerance);
    check_grads<T>(host, dev, tolerance);
    CHECK(rel(fd.evaluate(dev, x0d, t, epsd), fh.evaluate(host, x0, t, eps)) <= tolerance);
    check_grads<T>(host, dev, tolerance);
  }
}

template <class T>
void check_cross_entropy(double tolerance) {
  CAPTURE(sizeof(T));
  philox rng(31);
  // On logits: every label, a tie for the largest logit, smoothing on.
  tensor<T> z = uniform<T>(shape{6, 5}, rng, T(-4), T(4));
  z[1 * 5 + 3] = z[1 * 5 + 1] = T(9);  // row 1: first largest is 1
  const std::vector<int> y{0, 1, 4, 3, 2, 3};
  const auto zd = to_device(z);
  objective::cross_entropy<T> ch(T(0.2));
  objective::cross_entropy<T, cuda> cd(T(0.2));
  tensor<T> gh;
  tensor<T, cuda> gd;
  CHECK(rel(cd.loss_and_grad(zd, y, &gd, T(0.7)), ch.loss_and_grad(z, y, &gh, T(0.7))) <= tolerance);
  CHECK(max_rel_diff(gd, gh) <= tolerance);
  CHECK(cd.accuracy() == ch.accuracy());
  CHECK(rel(cd.loss_and_grad(zd, y, nullptr), ch.loss_and_grad(z, y, nullptr)) <= tolerance);
  const std::vector<int> bad{0, 1, 5, 3, 2, 3};
  CHECK_THROWS_WITH_AS(cd.loss_and_grad(zd, bad, &gd), doctest::Contains("label 5 of sample 2"), ebm::error);

  // Through a network: the parameter gradients.
  nn::sequential host{nn::linear<T>(8, 12), nn::gelu<T>{}, nn::linear<T>(12, 4)};
  nn::sequential dev{nn::linear<T, cuda>(8, 12), nn::gelu<T, cuda>{}, nn::linear<T, cuda>(12, 4)};
  nn::initialize(host, 32);
  copy_params<T>(host, dev);
  const tensor<T> x = uniform<T>(shape{5, 8}, rng);
  const auto xd = to_device(x);
  const std::vector<int> labels{3, 0, 1, 1, 2};
  objective::cross_entropy<T> nh(T(0.1));
  objective::cross_entropy<T, cuda> nd(T(0.1));
  zero_grad(host);
  zero_grad(dev);
  CHECK(rel(nd(dev, xd, labels, T(2)), nh(host, x, labels, T(2))) <= tolerance);
  check_grads<T>(host, dev, tolerance);
  CHECK(nd.accuracy() == nh.accuracy());
  CHECK(rel(nd.evaluate(dev, xd, labels), nh.evaluate(host, x, labels)) <= tolerance);
}

template <class T>
void check_egc_loss(double tolerance) {
  CAPTURE(sizeof(T));
  struct variant {
    bool unet, labels;
    objective::fisher_target target;
    double low_t = 0;  // low_t_fraction: importance-weighted Fisher terms
  };
  for (variant v : {variant{true, false, objective::fisher_target::noise_unscaled},
                    variant{true, true, objective::fisher_target::noise},
                    variant{false, false, objective::fisher_target::score},
                    variant{true, false, objective::fisher_target::noise_unscaled, 0.5}}) {
    CAPTURE(v.unet);
    CAPTURE(v.labels);
    CAPTURE(int(v.target));
    CAPTURE(v.low_t);
    egc_twins<T> m(tiny(v.unet, v.labels));
    objective::egc_options opt;
    opt.target = v.target;
    opt.low_t_fraction = v.low_t;
    opt.low_t_steps = 20;
    opt.gamma = 0.5;  // a classification part that shows in the gradients
    opt.label_drop = 0.3;
    opt.mean_over_features = v.unet;
    objective::egc_loss<T> lh(noise_schedule::linear(100), opt);
    objective::egc_loss<T, cuda> ld(noise_schedule::linear(100), opt);
    philox data(41);
    const tensor<T> x0 = uniform<T>(shape{4, 1, 8, 8}, data);
    const auto x0d = to_device(x0);
    const std::vector<int> labels{0, 2, 1, 2};

    // Random t, noise and label drops from one seed, two steps.
    philox rh(42), rd(42);
    for (int step = 0; step < 2; ++step) {
      CAPTURE(step);
      compare_egc_step<T>(
          m, lh, ld, [&] { return lh(m.host, x0, labels, rh, T(0.8)); },
          [&] { return ld(m.dev, x0d, labels, rd, T(0.8)); }, tolerance);
      CHECK(rh.offset() == rd.offset());
    }
    // Given t, noise and labels (one null label).
    const std::vector<int> t{0, 37, 99, 60};
    const std::vector<int> given{1, objective::egc_loss<T>::null_label, 0, 2};
    const tensor<T> eps = uniform<T>(x0.shape(), data);
    const auto epsd = to_device(eps);
    compare_egc_step<T>(
        m, lh, ld, [&] { return lh(m.host, x0, given, t, eps); }, [&] { return ld(m.dev, x0d, given, t, epsd); },
        tolerance);
    CHECK(lh.cross_entropy() > 0);
    // Unsupervised: no labels, the Fisher term alone.
    compare_egc_step<T>(
        m, lh, ld, [&] { return lh(m.host, x0, std::span<const int>{}, t, eps); },
        [&] { return ld(m.dev, x0d, std::span<const int>{}, t, epsd); }, tolerance);
    CHECK(ld.cross_entropy() == 0);
    // The loss alone leaves the gradients untouched.
    zero_grad(m.dev);
    zero_grad(m.host);
    CHECK(rel(ld(m.dev, x0d, given, t, epsd, T(1), false), lh(m.host, x0, given, t, eps, T(1), false)) <= tolerance);
    check_grads<T>(m.host, m.dev, 0);
  }
}

/// Guided DDIM from one seed, then DDPM steps from one state, then RePaint.
template <class T>
void check_sampling(double tolerance) {
  CAPTURE(sizeof(T));
  egc_twins<T> m(tiny(true, false));
  const auto sched = noise_schedule::linear(100);
  egc::score_model<T> sh(m.host, sched);
  egc::score_model<T, cuda> sd(m.dev, sched);
  const std::vector<int> labels{2, 0, 1};
  const shape batch{3, 1, 8, 8};

  // DDIM with eta > 0 (noise each step), clipping and guidance.
  ddim<T> ih(sched, 5, T(0.5));
  ddim<T, cuda> id(sched, 5, T(0.5));
  ih.clip_denoised(T(-1), T(1));
  id.clip_denoised(T(-1), T(1));
  philox rh(51), rd(51);
  const tensor<T> xh = ih.sample(sh, batch, rh, {labels, 3.0});
  const tensor<T, cuda> xd = id.sample(sd, batch, rd, {labels, 3.0});
  CHECK(max_rel_diff(xd, xh) <= tolerance);
  CHECK(rh.offset() == rd.offset());
  // Deterministic DDIM without guidance, run() on a given x_T.
  ddim<T> ih0(sched, 4);
  ddim<T, cuda> id0(sched, 4);
  philox init(52);
  tensor<T> x0h = uniform<T>(batch, init);
  auto x0d = to_device(x0h);
  ih0.run(sh, x0h, rh);
  id0.run(sd, x0d, rd);
  CHECK(max_rel_diff(x0d, x0h) <= tolerance);

  // DDPM: a guided step in the middle, an unguided last step (no noise).
  ddpm<T> ph(sched);
  ddpm<T, cuda> pd(sched);
  tensor<T> yh = uniform<T>(batch, init);
  auto yd = to_device(yh);
  ph.step(sh, yh, 50, rh, {labels, 1.5});
  pd.step(sd, yd, 50, rd, {labels, 1.5});
  CHECK(max_rel_diff(yd, yh) <= tolerance);
  ph.step(sh, yh, 0, rh);
  pd.step(sd, yd, 0, rd);
  CHECK(max_rel_diff(yd, yh) <= tolerance);
  CHECK(rh.offset() == rd.offset());

  // RePaint on DDIM with resampling; a per-image mask.
  tensor<T> mask(shape{1, 8, 8});
  for (index_t i = 0; i < mask.size(); ++i) mask[i] = (i % 3 == 0 || i < 16) ? T(1) : T(0);
  const auto maskd = to_device(mask);
  const tensor<T> known = uniform<T>(batch, init);
  const auto knownd = to_device(known);
  repaint<T> rph(ddim<T>(sched, 4, T(1)), 2, 1);
  repaint<T, cuda> rpd(ddim<T, cuda>(sched, 4, T(1)), 2, 1);
  const tensor<T> ph_out = rph.sample(sh, known, mask, rh);
  const tensor<T> pd_out = to_host(rpd.sample(sd, knownd, maskd, rd));
  CHECK(max_rel_diff(pd_out, ph_out) <= tolerance);
  CHECK(rh.offset() == rd.offset());
  index_t kept = 0;
  for (index_t i = 0; i < known.size(); ++i)
    if (mask[i % mask.size()] != T(0)) kept += std::memcmp(&pd_out[i], &known[i], sizeof(T)) == 0;
  CHECK(kept == 3 * 16 + 3 * 16);  // rows 0-1 and every third pixel: 16 + 16 known per image, exactly kept
  tensor<T> badmask = mask;
  badmask[5] = T(0.5);
  CHECK_THROWS_WITH_AS(rpd.sample(sd, knownd, to_device(badmask), rd), doctest::Contains("mask entry 5"),
                       ebm::error);
}

}  // namespace

TEST_CASE("cuda: the denoising Fisher objective on the device matches the host (loss, draws, gradients)") {
  EBM_REQUIRE_CUDA_DEVICE();
  check_denoising_fisher<double>(1e-10);
  check_denoising_fisher<float>(2e-4);
}

TEST_CASE("cuda: cross-entropy on the device matches the host (logits, gradient, accuracy, network)") {
  EBM_REQUIRE_CUDA_DEVICE();
  check_cross_entropy<double>(1e-12);
  check_cross_entropy<float>(1e-4);
}

TEST_CASE("cuda: the EGC loss on a tiny EGC model matches the host (value, parts, every parameter gradient)") {
  EBM_REQUIRE_CUDA_DEVICE();
  check_egc_loss<double>(1e-9);
  check_egc_loss<float>(2e-3);
}

TEST_CASE("cuda: guided DDIM, DDPM steps and RePaint with the EGC score follow the host") {
  EBM_REQUIRE_CUDA_DEVICE();
  check_sampling<double>(1e-9);
  check_sampling<float>(5e-3);
}

TEST_CASE("cuda: a non-finite state stops device sampling and names the chain") {
  EBM_REQUIRE_CUDA_DEVICE();
  egc_twins<double> m(tiny(true, false));
  const auto sched = noise_schedule::linear(50);
  egc::score_model<double, cuda> sd(m.dev, sched);
  philox init(61);
  tensor<double> x = uniform<double>(shape{3, 1, 8, 8}, init);
  x[1 * 64 + 10] = std::numeric_limits<double>::quiet_NaN();  // chain 1 only: no layer mixes samples
  auto xd = to_device(x);
  ddim<double, cuda> sampler(sched, 3);
  philox rng(62);
  CHECK_THROWS_WITH_AS(sampler.run(sd, xd, rng), doctest::Contains("chain 1 produced a non-finite value"),
                       ebm::error);
}
