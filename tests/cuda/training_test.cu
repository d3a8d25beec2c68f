// A training iteration on the device against the host: the guarded Langevin
// sampler (clamp, per-sample gradient clipping, masks, NaN checks) on an
// analytic energy and on a small CF-EBM energy, the initializers, Adam, SGD,
// EMA and global gradient clipping, the maximum-likelihood loss with its
// parameter gradients, and one whole CF-EBM iteration (coarse-to-fine start,
// guarded chain, loss, Adam step) with the same seed on both.
#include <doctest/doctest.h>

#include <ebm/energy/cf_ebm.hpp>
#include <ebm/energy/network.hpp>
#include <ebm/io/checkpoint.hpp>
#include <ebm/objective/maximum_likelihood.hpp>
#include <ebm/optim/adam.hpp>
#include <ebm/optim/clip_grad_norm.hpp>
#include <ebm/optim/ema.hpp>
#include <ebm/optim/sgd.hpp>
#include <ebm/sample/coarse_to_fine.hpp>
#include <ebm/sample/langevin.hpp>
#include <ebm/sample/short_run.hpp>
#include <algorithm>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common.hpp"
#include "cf_ebm_twins.hpp"
#include "network_check.hpp"

using namespace ebm;
using namespace ebm::cuda_test;

namespace {

// ------------------------------------------------------ analytic energy --

/// E(x_c) = 1/2 sum_j a_j (x_cj - m_j)^2 with a_j = strength (1 + j % 4) and
/// m_j = (j % 3 - 1) / 4; chain `nan_energy` gets a NaN energy, chain
/// `nan_grad` a NaN gradient (to test the guards).  Written once for host
/// and device.
template <class T>
EBM_HD void quad_sample(const T* x, T* e, T* g, index_t c, index_t per, T strength, index_t nan_energy,
                        index_t nan_grad, T nan) {
  T acc(0);
  for (index_t j = 0; j < per; ++j) {
    const T a = strength * T(1 + j % 4), d = x[c * per + j] - T(0.25) * T(j % 3 - 1);
    acc += a * d * d;
    if (g) g[c * per + j] = c == nan_grad ? nan : a * d;
  }
  e[c] = c == nan_energy ? nan : T(0.5) * acc;
}

template <class T>
__global__ void quad_kernel(const T* x, T* e, T* g, index_t n, index_t per, T strength, index_t nan_energy,
                            index_t nan_grad, T nan) {
  EBM_GRID_STRIDE_LOOP(c, n) quad_sample(x, e, g, c, per, strength, nan_energy, nan_grad, nan);
}

template <class T, class D>
struct quad_energy {
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;
  T strength = T(1);
  index_t nan_energy = -1, nan_grad = -1;
  tensor_type e;

  const tensor_type& energy(const tensor_type& x) {
    eval(x, nullptr);
    return e;
  }
  const tensor_type& energy_and_grad(const tensor_type& x, tensor_type& g) {
    g.resize(x.shape());
    eval(x, g.data());
    return e;
  }
  void eval(const tensor_type& x, T* g) {
    const index_t n = x.extent(0), per = x.shape().sample_size();
    e.resize(shape{n});
    const T nan = std::numeric_limits<T>::quiet_NaN();
    if constexpr (std::is_same_v<D, cpu>) {
      for (index_t c = 0; c < n; ++c) quad_sample(x.data(), e.data(), g, c, per, strength, nan_energy, nan_grad, nan);
    } else {
      const cuda dev = x.device();
      quad_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(
          x.data(), e.data(), g, n, per, strength, nan_energy, nan_grad, nan);
      EBM_CUDA_CHECK_LAUNCH();
    }
  }
};

/// A clipping bound between the two middle per-sample gradient norms of a
/// host energy at x (even batch; only the entries the mask lets move count,
/// as in the sampler): it shortens half of the gradients at the start and is
/// far, relative to rounding, from every chain's norm (so host and device
/// clip the same chains).
template <class E, class T>
T middle_grad_norm(E& energy, const tensor<T>& x, tensor_view<const T> mask = {}) {
  tensor<T> g;
  energy.energy_and_grad(x, g);
  const index_t n = x.extent(0), per = x.shape().sample_size();
  REQUIRE(n % 2 == 0);
  std::vector<double> norms;
  for (index_t c = 0; c < n; ++c) {
    double s = 0;
    for (index_t j = 0; j < per; ++j) {
      const index_t i = c * per + j;
      if (mask.data() == nullptr || mask[i % mask.size()] != T(0)) s += double(g[i]) * double(g[i]);
    }
    norms.push_back(std::sqrt(s));
  }
  std::sort(norms.begin(), norms.end());
  const std::size_t k = norms.size() / 2;
  return T(0.5 * (norms[k - 1] + norms[k]));
}

/// How many per-step clipping decisions of a host chain were within a
/// relative `margin` of the bound (|norm / bound - 1| <= margin): `states`
/// are the chains before each step.  A chain whose norm drifts that close to
/// the bound during the run may be clipped on one side and not on the other
/// (norms differ by rounding), so clipped counts may differ by this many.
template <class E, class T>
index_t near_bound_decisions(E& energy, const std::vector<tensor<T>>& states, T bound, double margin) {
  index_t near = 0;
  tensor<T> g;
  for (const tensor<T>& x : states) {
    energy.energy_and_grad(x, g);
    const index_t n = x.extent(0), per = x.shape().sample_size();
    for (index_t c = 0; c < n; ++c) {
      double s = 0;
      for (index_t j = 0; j < per; ++j) s += double(g[c * per + j]) * double(g[c * per + j]);
      near += std::abs(std::sqrt(s) / double(bound) - 1) <= margin;
    }
  }
  return near;
}

/// What an ebm::error says, without the " [function at file:line]" where
/// it was thrown (host and device throw from different lines).
std::string message_of(const ebm::error& e) {
  const std::string w = e.what();
  return w.substr(0, w.find(" ["));
}

/// Runs the same guarded chain on the host and on the device from the same
/// start and seed and compares states, clipped counts and generator offsets.
template <class T>
void check_quad_chain(bool clamp, bool clip, bool masked, double tolerance) {
  CAPTURE(sizeof(T));
  CAPTURE(clamp);
  CAPTURE(clip);
  CAPTURE(masked);
  const index_t N = 6, C = 2, H = 5, W = 3;  // odd sizes: partial Philox blocks
  philox init(17);
  tensor<T> xh = uniform<T>(shape{N, C, H, W}, init);
  const tensor<T> x0 = xh;
  auto xd = to_device(xh);
  tensor<T> mask_h(shape{C, H, W});
  for (index_t i = 0; i < mask_h.size(); ++i) mask_h[i] = T(i % 3 != 0);
  const auto mask_d = to_device(mask_h);

  const tensor_view<const T> mh = masked ? tensor_view<const T>(mask_h.view()) : tensor_view<const T>{};
  const tensor_view<const T> md = masked ? mask_d.view() : tensor_view<const T>{};

  quad_energy<T, cpu> eh;
  quad_energy<T, cuda> ed;
  eh.strength = ed.strength = T(8);
  auto sampler = unadjusted_langevin(T(0.02));
  if (clamp) sampler.clamp(T(-0.6), T(0.6));
  if (clip) sampler.clip_grad_norm(middle_grad_norm(eh, xh, mh));
  auto dev_sampler = sampler;  // copies start with their own scratch

  const int steps = 7;
  philox rh(123, 9), rd(123, 9);
  rh.advance(5);
  rd.advance(5);
  const chain_stats sh = sampler.run(eh, xh, steps, rh, mh);
  const chain_stats sd = dev_sampler.run(ed, xd, steps, rd, md);
  CHECK(rd.offset() == rh.offset());
  CHECK(sd.clipped == sh.clipped);
  if (clip) CHECK(sh.clipped > 0);
  const tensor<T> r = to_host(xd);
  CHECK(max_rel_diff(r, xh) <= tolerance);
  if (clamp) {
    index_t outside = 0;  // among the entries that moved
    for (index_t i = 0; i < r.size(); ++i)
      if (!masked || mask_h[i % mask_h.size()] != T(0)) outside += r[i] < T(-0.6) || r[i] > T(0.6);
    CHECK(outside == 0);
  }
  if (masked) {
    index_t moved_outside = 0;
    for (index_t i = 0; i < r.size(); ++i)
      if (mask_h[i % mask_h.size()] == T(0)) moved_outside += std::memcmp(&r[i], &x0[i], sizeof(T)) != 0;
    CHECK(moved_outside == 0);
  }
  MESSAGE("quad chain (", std::string(sizeof(T) == 4 ? "float" : "double"), ", clamp ", clamp, ", clip ", clip, ", mask ",
          masked, "): ", bit_mismatches(r, xh), " of ", r.size(), " entries differ from the host in their bits");
}

/// The message of the ebm::error f throws ("" when it does not throw).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ebm::error& e) {
    return message_of(e);
  }
  return "";
}

// ------------------------------------------------------ CF-EBM energies --

template <class T>
void check_cf_ebm_chain(double tolerance) {
  CAPTURE(sizeof(T));
  twins<T> t;
  t.set_stage(2, T(1));
  philox init(8);
  tensor<T> xh = uniform<T>(shape{4, 1, 16, 16}, init);
  auto xd = to_device(xh);
  tensor<T> mask_h(shape{1, 16, 16});
  for (index_t i = 0; i < mask_h.size(); ++i) mask_h[i] = T((i / 16) % 4 != 1);  // rows 1, 5, 9, 13 observed
  const auto mask_d = to_device(mask_h);

  auto eh = energy_of(t.host);
  auto ed = energy_of(t.dev);
  auto sampler = cf_ebm_langevin<T>();
  sampler.clamp(T(-1), T(1)).clip_grad_norm(middle_grad_norm(eh, xh, tensor_view<const T>(mask_h.view())));
  auto dev_sampler = sampler;
  philox rh(21, 3), rd(21, 3);
  const int steps = 5;
  const chain_stats sh = sampler.run(eh, xh, steps, rh, mask_h.view());
  const chain_stats sd = dev_sampler.run(ed, xd, steps, rd, mask_d.view());
  CHECK(sh.clipped > 0);
  CHECK(sd.clipped == sh.clipped);
  CHECK(rd.offset() == rh.offset());
  CHECK(max_rel_diff(xd, xh) <= tolerance);
}

// ----------------------------------------------------------- optimizers --

/// Two parameter tensors with gradients, on the host and on the device.
template <class T>
struct param_twins {
  tensor<T> a, ga, b, gb;
  tensor<T, cuda> da, dga, db, dgb;
  param_twins() {
    philox rng(44);
    a = uniform<T>(shape{37, 5}, rng);
    b = uniform<T>(shape{3}, rng);
    ga = uniform<T>(a.shape(), rng, T(-2), T(2));
    gb = uniform<T>(b.shape(), rng, T(-2), T(2));
    to_dev();
  }
  void to_dev() {
    copy(a, da);
    copy(ga, dga);
    copy(b, db);
    copy(gb, dgb);
  }
  /// New gradients (the same on both).
  void regrad(std::uint64_t seed) {
    philox rng(seed);
    ga = uniform<T>(a.shape(), rng, T(-2), T(2));
    gb = uniform<T>(b.shape(), rng, T(-2), T(2));
    copy(ga, dga);
    copy(gb, dgb);
  }
  std::vector<param_ref<T>> host() { return {{"a", &a, &ga}, {"b", &b, &gb}}; }
  std::vector<param_ref<T, cuda>> dev() { return {{"a", &da, &dga}, {"b", &db, &dgb}}; }
  void check(double tolerance, const char* what) {
    const std::string what_s(what);
    CAPTURE(what_s);
    CHECK(max_rel_diff(da, a) <= tolerance);
    CHECK(max_rel_diff(db, b) <= tolerance);
    MESSAGE(std::string(what), " (", std::string(sizeof(T) == 4 ? "float" : "double"), "): ",
            bit_mismatches(to_host(da), a) + bit_mismatches(to_host(db), b), " of ", a.size() + b.size(),
            " parameters differ from the host in their bits");
  }
};

template <class T>
void check_adam(double tolerance) {
  for (bool decoupled : {false, true}) {
    CAPTURE(decoupled);
    param_twins<T> p;
    const optim::adam_options o{.lr = 1e-2, .beta1 = 0.5, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.05,
                                .decoupled_weight_decay = decoupled};
    optim::adam<T> host(p.host(), o);
    optim::adam<T, cuda> dev(p.dev(), o);
    for (int k = 0; k < 4; ++k) {
      host.step();
      dev.step();
      p.regrad(100 + k);
    }
    p.check(tolerance, "adam");
    CHECK(dev.step_count() == host.step_count());
    // The moments, through a checkpoint (device state is copied via the host).
    io::checkpoint ck;
    io::save_state(ck, dev, "adam");
    param_twins<T> q;
    optim::adam<T> loaded(q.host(), o);
    io::load_state(ck, loaded, "adam");
    CHECK(loaded.step_count() == host.step_count());
    std::vector<const tensor<T>*> hs, ls;
    host.visit_state([&](std::string_view, auto& x) {
      if constexpr (!std::is_arithmetic_v<std::remove_cvref_t<decltype(x)>>) hs.push_back(&x);
    });
    loaded.visit_state([&](std::string_view, auto& x) {
      if constexpr (!std::is_arithmetic_v<std::remove_cvref_t<decltype(x)>>) ls.push_back(&x);
    });
    REQUIRE(hs.size() == 4);
    REQUIRE(ls.size() == 4);
    for (std::size_t i = 0; i < hs.size(); ++i) CHECK(max_rel_diff(*ls[i], *hs[i]) <= tolerance);
    // And back onto a device optimizer: it continues like the host one.
    optim::adam<T, cuda> resumed(p.dev(), o);
    io::load_state(ck, resumed, "adam");
    host.step();
    resumed.step();
    p.check(tolerance, "adam after a checkpoint");
  }
}

template <class T>
void check_sgd(double tolerance) {
  const optim::sgd_options opts[] = {{.lr = 0.1},
                                     {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01},
                                     {.lr = 0.05, .momentum = 0.8, .nesterov = true, .weight_decay = 0.02}};
  for (const auto& o : opts) {
    CAPTURE(o.momentum);
    CAPTURE(o.nesterov);
    param_twins<T> p;
    optim::sgd<T> host(p.host(), o);
    optim::sgd<T, cuda> dev(p.dev(), o);
    for (int k = 0; k < 3; ++k) {
      host.step();
      dev.step();
      p.regrad(200 + k);
    }
    p.check(tolerance, "sgd");
  }
}

template <class T>
void check_ema(double tolerance) {
  param_twins<T> p;
  optim::ema<T> host(p.host(), 0.9, true);
  optim::ema<T, cuda> dev(p.dev(), 0.9, true);
  for (int k = 0; k < 3; ++k) {
    // Move the parameters (the same on both), then average.
    philox rng(300 + k);
    p.a = uniform<T>(p.a.shape(), rng);
    p.b = uniform<T>(p.b.shape(), rng);
    p.to_dev();
    host.update();
    dev.update();
  }
  CHECK(max_rel_diff(dev.average(0), host.average(0)) <= tolerance);
  CHECK(max_rel_diff(dev.average(1), host.average(1)) <= tolerance);
  const tensor<T> live_a = p.a;
  host.swap();
  dev.swap();
  p.check(tolerance, "ema swapped in");
  CHECK(max_rel_diff(dev.average(0), live_a) == 0);  // the live weights wait in the averages
  host.swap();
  dev.swap();
  CHECK(max_rel_diff(p.da, live_a) == 0);
  host.copy_to_params();
  dev.copy_to_params();
  p.check(tolerance, "ema copied to the parameters");
}

template <class T>
void check_clip(double tolerance) {
  param_twins<T> p;
  const double nh = optim::grad_norm(p.host());
  const double nd = optim::grad_norm(p.dev());
  CHECK(std::abs(nd - nh) <= 1e-12 * nh);
  CHECK(optim::clip_grad_norm(p.dev(), 1e6) == doctest::Approx(nh).epsilon(1e-12));  // no change
  CHECK(max_rel_diff(p.dga, p.ga) == 0);
  const double ch = optim::clip_grad_norm(p.host(), 0.5);
  const double cd = optim::clip_grad_norm(p.dev(), 0.5);
  CHECK(cd == doctest::Approx(ch).epsilon(1e-12));
  CHECK(max_rel_diff(p.dga, p.ga) <= tolerance);
  CHECK(max_rel_diff(p.dgb, p.gb) <= tolerance);
  CHECK(optim::grad_norm(p.dev()) == doctest::Approx(0.5).epsilon(sizeof(T) == 4 ? 1e-5 : 1e-12));
}

// ------------------------------------------------------- ML and training --

template <class T>
void check_maximum_likelihood(double tolerance) {
  CAPTURE(sizeof(T));
  for (double alpha : {0.0, 0.1}) {
    CAPTURE(alpha);
    twins<T> t;
    t.set_stage(1, T(0.6));  // fading: both FromRGB blocks take part
    philox rng(61);
    const tensor<T> data = uniform<T>(shape{5, 1, 8, 8}, rng), samples = uniform<T>(shape{3, 1, 8, 8}, rng);
    const auto dd = to_device(data), sd = to_device(samples);
    objective::maximum_likelihood<T> mh{T(alpha)};
    objective::maximum_likelihood<T, cuda> md{T(alpha)};
    zero_grad(t.host);
    zero_grad(t.dev);
    const T lh = mh(t.host, data, samples, T(0.7));
    const T ld = md(t.dev, dd, sd, T(0.7));
    CHECK(std::abs(double(ld) - double(lh)) <= tolerance * (1 + std::abs(double(lh))));
    CHECK(md.last().energy_data == doctest::Approx(mh.last().energy_data).epsilon(tolerance));
    CHECK(md.last().energy_sample == doctest::Approx(mh.last().energy_sample).epsilon(tolerance));
    check_grads<T>(t.host, t.dev, tolerance);
    // evaluate(): the same loss (the weight scales only the gradients), no gradients.
    const T le = md.evaluate(t.dev, dd, sd);
    CHECK(std::abs(double(le) - double(lh)) <= tolerance * (1 + std::abs(double(lh))));
    check_grads<T>(t.host, t.dev, tolerance);
  }
}

/// One CF-EBM training iteration while the 8x8 stage fades in: chains start
/// coarse-to-fine (U(-1, 1) at 4x4, a coarse chain, upsampling, the blend
/// with fresh noise), run the guarded CF-EBM sampler, then the ML loss and
/// one Adam step; everything on the device against the host.
template <class T>
void check_training_iteration(double tolerance) {
  CAPTURE(sizeof(T));
  twins<T> t;
  const T beta(0.4);
  t.set_stage(1, beta);
  philox data_rng(71);
  const tensor<T> data = uniform<T>(shape{4, 1, 8, 8}, data_rng);
  const auto data_d = to_device(data);
  // eps = 1e-3 (gradients here are at most ~5e-3): with the default 1e-8
  // Adam's first step is lr sign(g), so a gradient entry below the float
  // rounding noise (a few of the ~8400 are) gets opposite steps of lr on host
  // and device, a parameter difference of 2 lr = 1e-2, ten times the
  // tolerance.  With eps = 1e-3 small entries move linearly in g.
  const optim::adam_options ao{.lr = 5e-3, .beta1 = 0.5, .beta2 = 0.999, .eps = 1e-3};
  optim::adam<T> adam_h(collect_params(t.host), ao);
  optim::adam<T, cuda> adam_d(collect_params(t.dev), ao);
  objective::maximum_likelihood<T> ml_h;
  objective::maximum_likelihood<T, cuda> ml_d;
  auto sampler = cf_ebm_langevin<T>();
  sampler.clamp(T(-1), T(1)).clip_grad_norm(T(0.01));
  auto sampler_d = sampler;
  philox rh(5, 0xcfeb), rd(5, 0xcfeb);
  tensor<T> xh, scratch_h;
  tensor<T, cuda> xd, scratch_d;
  const shape fine{4, 1, 8, 8};
  const int coarse_T = 6, fine_T = 5;

  for (int iteration = 0; iteration < 2; ++iteration) {
    CAPTURE(iteration);
    // 1. chains: coarse-to-fine start on the 4x4 energy, then back to 8x8.
    t.set_stage(0, T(1));
    {
      auto ch = energy_of(t.host);
      auto cd = energy_of(t.dev);
      const chain_stats a = coarse_to_fine_init(xh, fine, ch, sampler, coarse_T, beta, rh, scratch_h);
      const chain_stats b = coarse_to_fine_init(xd, fine, cd, sampler_d, coarse_T, beta, rd, scratch_d);
      CHECK(a.steps == b.steps);
      CHECK(max_rel_diff(scratch_d, scratch_h) <= tolerance);
    }
    t.set_stage(1, beta);
    CHECK(rd.offset() == rh.offset());
    CHECK(max_rel_diff(xd, xh) <= tolerance);
    // 2. the short run, clipping about half of the gradients at its start.
    auto eh = energy_of(t.host);
    auto ed = energy_of(t.dev);
    const T bound = middle_grad_norm(eh, xh);
    sampler.clip_grad_norm(bound);
    sampler_d.clip_grad_norm(bound);
    std::vector<tensor<T>> states{xh};  // the host chains before each step
    const chain_stats sh = sampler.run(eh, xh, fine_T, rh, {}, [&](int step, const tensor<T>& x) {
      if (step + 1 < fine_T) states.push_back(x);
    });
    const chain_stats sd = sampler_d.run(ed, xd, fine_T, rd);
    CHECK(sh.clipped > 0);
    // The bound lies between two norms at the start, but the norms drift over
    // the steps, and in the second iteration the networks already differ in
    // their last bits: decisions that close to the bound may go either way.
    const index_t near = near_bound_decisions(eh, states, bound, sizeof(T) == 4 ? 2e-3 : 1e-9);
    CHECK(std::abs(sd.clipped - sh.clipped) <= near);
    CHECK(max_rel_diff(xd, xh) <= tolerance);
    // 3. loss and gradients, 4. Adam, 5. spectral norm refresh.
    adam_h.zero_grad();
    adam_d.zero_grad();
    const T lh = ml_h(t.host, data, xh);
    const T ld = ml_d(t.dev, data_d, xd);
    CHECK(std::abs(double(ld) - double(lh)) <= tolerance * (1 + std::abs(double(lh))));
    check_grads<T>(t.host, t.dev, tolerance);
    adam_h.step();
    adam_d.step();
    t.host.refresh();
    t.dev.refresh();
    check_params<T>(t.host, t.dev, tolerance);
  }
}

}  // namespace

TEST_CASE("cuda: guarded Langevin on an analytic energy follows the host (clamp, clipping, mask)") {
  EBM_REQUIRE_CUDA_DEVICE();
  for (bool clamp : {false, true})
    for (bool clip : {false, true})
      for (bool masked : {false, true}) {
        check_quad_chain<double>(clamp, clip, masked, 1e-12);
        check_quad_chain<float>(clamp, clip, masked, 2e-5);
      }
}

TEST_CASE("cuda: a non-finite energy or state throws the host's error, naming the chain and the step") {
  EBM_REQUIRE_CUDA_DEVICE();
  for (int kind = 0; kind < 2; ++kind) {
    CAPTURE(kind);
    philox init(4);
    tensor<float> xh = uniform<float>(shape{5, 7}, init);
    auto xd = to_device(xh);
    quad_energy<float, cpu> eh;
    quad_energy<float, cuda> ed;
    if (kind == 0) eh.nan_energy = ed.nan_energy = 3;  // energy NaN at chain 3
    else eh.nan_grad = ed.nan_grad = 2;                // gradient NaN: state NaN at chain 2
    auto sampler = unadjusted_langevin(0.01f);
    auto dev_sampler = sampler;
    philox rh(1), rd(1);
    const std::string host_msg = error_of([&] { sampler.run(eh, xh, 4, rh); });
    const std::string dev_msg = error_of([&] { dev_sampler.run(ed, xd, 4, rd); });
    CHECK(!host_msg.empty());
    CHECK(dev_msg == host_msg);
    CHECK(dev_msg.find(kind == 0 ? "chain 3 has a non-finite energy (nan) at step 0" : "chain 2 produced a non-finite")
          != std::string::npos);
  }
  // A finite chain after a failure: the sampler and the stream still work.
  philox init(4);
  auto xd = to_device(uniform<float>(shape{5, 7}, init));
  quad_energy<float, cuda> ed;
  auto sampler = unadjusted_langevin(0.01f);
  philox rd(1);
  CHECK_NOTHROW(sampler.run(ed, xd, 3, rd));
}

TEST_CASE("cuda: noise initializers and short_run on the device draw the host's numbers") {
  EBM_REQUIRE_CUDA_DEVICE();
  philox rh(9, 1), rd(9, 1);
  const init::uniform_noise<float> u(shape{1, 6, 6});
  tensor<float> xh;
  tensor<float, cuda> xd;
  u.initialize(xh, 5, rh);
  u.initialize(xd, 5, rd);
  CHECK(bit_mismatches(to_host(xd), xh) == 0);
  const init::gaussian_noise<double> gn(shape{9}, 0.5, 2.0);
  tensor<double> gh;
  tensor<double, cuda> gd;
  gn.initialize(gh, 3, rh);
  gn.initialize(gd, 3, rd);
  CHECK(max_rel_diff(gd, gh) <= 1e-12);
  CHECK(rd.offset() == rh.offset());

  quad_energy<float, cpu> eh;
  quad_energy<float, cuda> ed;
  auto sampler = unadjusted_langevin(0.05f);
  sampler.clamp(-1.0f, 1.0f);
  short_run sr_h(u, sampler, 6), sr_d(u, sampler, 6);
  sr_h.sample(eh, xh, 4, rh);
  sr_d.sample(ed, xd, 4, rd);
  CHECK(rd.offset() == rh.offset());
  CHECK(max_rel_diff(xd, xh) <= 2e-5);
}

TEST_CASE("cuda: guarded Langevin on a CF-EBM energy follows the host (clamp, clipping, mask)") {
  EBM_REQUIRE_CUDA_DEVICE();
  check_cf_ebm_chain<double>(1e-9);
  check_cf_ebm_chain<float>(2e-4);
}

TEST_CASE("cuda: Adam, SGD, EMA and gradient clipping on the device match the host") {
  EBM_REQUIRE_CUDA_DEVICE();
  check_adam<double>(1e-14);
  check_adam<float>(1e-6);
  check_sgd<double>(1e-14);
  check_sgd<float>(1e-6);
  check_ema<double>(1e-14);
  check_ema<float>(1e-6);
  check_clip<double>(1e-12);
  check_clip<float>(1e-6);
}

TEST_CASE("cuda: the maximum-likelihood loss and its parameter gradients match the host") {
  EBM_REQUIRE_CUDA_DEVICE();
  check_maximum_likelihood<double>(1e-10);
  check_maximum_likelihood<float>(2e-4);
}

TEST_CASE("cuda: a whole CF-EBM training iteration on the device follows the host") {
  EBM_REQUIRE_CUDA_DEVICE();
  check_training_iteration<double>(1e-8);
  // float: convolution sums in other orders, amplified a little by nine
  // chain steps of s = 1 and by Adam's normalised step.
  check_training_iteration<float>(1e-3);
}
