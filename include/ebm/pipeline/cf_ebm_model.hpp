#pragma once
// A trained (or training) CF-EBM: the expanding energy, the Langevin schedule
// of every stage, and a snapshot of the parameters taken when each stage
// finished.  Snapshots are what the multi-stage sampler runs (each stage's
// network as it was at the end of its own stage, as in the authors' released
// code); the live network is what the single-stage sampler (Algorithm 2) runs.
//
// Sampling both published ways:
//   sample_fine(n, rng)        x ~ U(-1, 1) at the finest resolution, T_S
//                              Langevin steps with the final energy;
//   sample_multistage(n, rng)  x ~ U(-1, 1) at the coarsest resolution, then
//                              for every stage: T_s steps with that stage's
//                              snapshot, clamp to [-1, 1], upsample ×2.
// refine(x, level, rng, mask) runs the same chain from images: x pooled down
// to `level`, then the stages from there up.  With a mask (1 = missing) the
// observed pixels are held at x's values at every level (a coarse pixel is
// observed only if all four of its fine pixels are), so only the missing
// ones move: coarse-to-fine inpainting.  refine() forgets a noisy image
// after the start, so it makes a new sample rather than a denoised one.
//
// denoise(y, rng, options) samples (or descends) the posterior
// p(x | y) ∝ p(x) N(y; x, sigma^2 I) for known noise sigma, coarse to fine: y
// is pooled down to the start level (each 2x2 pooling halves the noise's
// standard deviation, sigma_l = sigma / 2^(top - l)), and at every level from
// there up the chain runs on the posterior energy (energy/posterior.hpp)
//   U_l(x) = E_l(x) + (w_l / 2) ||x - pool(y)_l||^2,
// started from the upsampled result of the level below.
//
// Temperature.  The update x <- x - (s/2) grad U + sqrt(eta) eps is the
// unadjusted Langevin algorithm with step h = eta on U / tau, tau = eta / s:
// it samples exp(-U / tau), not exp(-U).  A prior learned with this sampler
// is exp(-E / tau), so the posterior exp(-E/tau - |x - y|^2 / (2 sigma^2)) is
// exp(-U / tau) with U = E + (tau / sigma^2) / 2 |x - y|^2: w = tau / sigma^2
// (times a user factor lambda).  The explicit step is a contraction on the
// data term only while w s / 2 < 1, so w is capped at 1 / s (at small sigma
// the coarse levels reach the cap: the pooled observation is then followed
// closely).  Which tau?  CF-EBM's published sampler has eta_0 = 2e-2, s = 1:
// tau = 0.02, the default.  A checkpoint trained with far less noise (the
// example's presets use eta_0 = 2.25e-4) is trained as a short gradient
// descent whose temperature the training does not pin down; with its own
// tau the data term is negligible and the chain forgets y (docs/cf-ebm.md
// has the numbers), so the default stays 0.02.
//
// The chain at every level is the model's own sampler (noise decaying to 0:
// close to a MAP descent), the coarser levels running their T_l steps and the
// finest level `fine_steps` (default 6): the fine energy learnt to refine
// upsampled coarse images in T steps, and longer chains at 32x32 drift back
// towards the observation's noise (measured, docs/cf-ebm.md).  `sample`
// instead runs at temperature tau (constant eta = tau s) and averages
// `chains` chains (the posterior mean).
#include <filesystem>
#include <string>
#include <vector>

#include "../energy/cf_ebm.hpp"
#include "../energy/network.hpp"
#include "../energy/posterior.hpp"
#include "../io/checkpoint.hpp"
#include "../nn/pool.hpp"
#include "../nn/upsample.hpp"
#include "../sample/langevin.hpp"
#include "detail/device_ops.hpp"

namespace ebm::cf_ebm {

/// Langevin settings shared by training and sampling (CF-EBM appendix A.2:
/// step size 1, noise variance 2e-2 - 2e-2/(T - t + 1)).
struct langevin_options {
  double step_size = 1.0;
  double noise = 2e-2;
  bool clamp = true;           ///< keep chains in the data range [-1, 1]
  double clip_grad_norm = 0;   ///< per-sample gradient norm guard (0 = off)

  template <class T>
  auto make() const {
    auto s = cf_ebm_langevin<T>(T(step_size), T(noise));
    if (clamp) s.clamp(T(-1), T(1));
    if (clip_grad_norm > 0) s.clip_grad_norm(T(clip_grad_norm));
    return s;
  }
};

/// Posterior denoising settings (model::denoise; the top of this file).
struct denoise_options {
  double sigma = 0.3;          ///< noise standard deviation of the observation (known)
  /// tau: the prior is taken as exp(-E / tau), so the data term is weighted
  /// w = lambda tau / sigma^2.  0: the temperature of the model's own sampler,
  /// eta_0 / s.  The default is CF-EBM's published sampler (eta_0 = 2e-2, s = 1).
  double temperature = 2e-2;
  double data_weight = 1;      ///< lambda, scales the data term
  int start_level = -1;        ///< level the chain starts at (-1: one below the finest)
  int fine_steps = 6;          ///< steps at the finest level (-1: the model's T); coarser levels run their T
  /// false: the model's own sampler (noise eta_t decaying to 0: a MAP-like
  /// descent); true: sample at temperature tau (constant noise eta = tau s)
  /// and average `chains` chains (the posterior mean).
  bool sample = false;
  int chains = 1;
};

/// Adapter that makes every parameter of every stage visible to the
/// checkpoint functions (energy::visit_params shows the active stage only).
template <class Net>
struct all_stages {
  Net* net;
  using value_type = typename Net::value_type;
  using device_type = typename Net::device_type;
  template <class F> void visit_params(F&& f) { net->visit_all_params(f); }
  template <class F> void visit_buffers(F&& f) { net->visit_buffers(f); }
  void on_buffers_loaded() { net->on_buffers_loaded(); }
};

/// D = ebm::cuda keeps the network, the snapshots and the chains of
/// sample_fine / sample_multistage on the GPU (include ebm/device/cuda/cuda.cuh
/// in a .cu file); refine and denoise run on the host only.
template <class T = float, class D = cpu>
class model {
 public:
  using device_type = D;
  using tensor_type = tensor<T, D>;
  using energy_type = energy<T, D>;

  model(const config& cfg, std::vector<int> langevin_steps, D dev = {})
      : net_(cfg, dev), steps_(std::move(langevin_steps)), snapshots_(static_cast<std::size_t>(cfg.levels())),
        dev_(dev) {
    EBM_REQUIRE(static_cast<int>(steps_.size()) == cfg.levels(), "cf_ebm::model: need one Langevin step count per "
                "stage (", cfg.levels(), "), got ", steps_.size());
  }

  energy_type& net() { return net_; }
  const energy_type& net() const { return net_; }
  const config& cfg() const { return net_.cfg(); }
  int levels() const { return net_.levels(); }
  int langevin_steps(int level) const { return steps_.at(static_cast<std::size_t>(level)); }
  langevin_options& sampling() { return sampling_; }

  /// Records the current parameters as the snapshot of `level`.
  void snapshot(int level) {
    auto& snap = snapshots_.at(static_cast<std::size_t>(level));
    snap.clear();
    all_stages<energy_type> all{&net_};
    ebm::visit_params(all, [&](std::string_view, tensor_type& v, tensor_type&) { snap.push_back(v); });
    ebm::visit_buffers(all, [&](std::string_view, tensor_type& v) { snap.push_back(v); });
  }
  bool has_snapshot(int level) const { return !snapshots_.at(static_cast<std::size_t>(level)).empty(); }

  /// Runs f() with the network set to `level` (beta = 1) and, when it has
  /// one, that level's snapshot swapped in; restores everything afterwards.
  template <class F>
  void with_stage(int level, F&& f) {
    const int stage = net_.stage();
    const T beta = net_.beta();
    const bool swap = has_snapshot(level);
    if (swap) swap_snapshot(level);
    net_.set_stage(level, T(1));
    try {
      f();
    } catch (...) {
      if (swap) swap_snapshot(level);
      net_.set_stage(stage, beta);
      throw;
    }
    if (swap) swap_snapshot(level);
    net_.set_stage(stage, beta);
  }

  /// Algorithm 2: n samples from uniform noise with the finest (current) energy.
  tensor_type sample_fine(index_t n, philox& rng, chain_stats* stats = nullptr) {
    const int top = levels() - 1;
    tensor_type x = pipeline_detail::empty_on<T>(dev_);
    x.resize(shape{n, cfg().image_channels, cfg().resolution(top), cfg().resolution(top)});
    pipeline_detail::fill_uniform_on(x, rng, T(-1), T(1));
    auto sampler = sampling_.template make<T>();
    with_stage(top, [&] {
      auto e = energy_of(net_);
      const chain_stats s = sampler.run(e, x, langevin_steps(top), rng);
      if (stats) *stats = s;
    });
    return x;
  }

  /// The chain through every stage, coarsest first (each stage's snapshot
  /// runs its own step count, clamps, and hands the upsampled images on), up
  /// to and including `last_level` (default: the finest).
  tensor_type sample_multistage(index_t n, philox& rng, int last_level = -1) {
    if (last_level < 0) last_level = levels() - 1;
    EBM_REQUIRE(last_level < levels(), "cf_ebm::model::sample_multistage: level ", last_level,
                " out of range [0, ", levels(), ")");
    tensor_type x = pipeline_detail::empty_on<T>(dev_);
    x.resize(shape{n, cfg().image_channels, cfg().resolution(0), cfg().resolution(0)});
    pipeline_detail::fill_uniform_on(x, rng, T(-1), T(1));
    auto sampler = sampling_.template make<T>();
    for (int l = 0; l <= last_level; ++l) {
      if (l > 0) x = pipeline_detail::upsampled(x, nn::upsample_mode::nearest, dev_);
      with_stage(l, [&] {
        auto e = energy_of(net_);
        sampler.run(e, x, langevin_steps(l), rng);
      });
      // (the sampler clamps already when sampling().clamp is set)
      if (pipeline_detail::on_host<D> || !sampling_.clamp) pipeline_detail::clamp_all(x, T(-1), T(1));
    }
    return x;
  }

  /// The multistage chain started from images (see the top of this file).
  /// `mask` has one sample's shape [C, H, W] (non-zero = missing) or is empty.
  tensor<T> refine(const tensor<T>& images, int start_level, philox& rng, tensor_view<const T> mask = {}) {
    static_assert(pipeline_detail::on_host<D>, "cf_ebm::model::refine runs on the CPU (a model<T, cpu>)");
    const int top = levels() - 1;
    EBM_REQUIRE(start_level >= 0 && start_level <= top, "cf_ebm::model::refine: start level ", start_level,
                " out of range [0, ", levels(), ")");
    check_images(images, "cf_ebm::model::refine");
    const index_t r = cfg().resolution(top);
    // Pyramids of the images and of the mask (finest last).
    const std::vector<tensor<T>> xs = pyramid(images, start_level);
    std::vector<tensor<T>> ms(static_cast<std::size_t>(top + 1));
    const bool masked = mask.data() != nullptr;
    if (masked) {
      require_same_shape(shape{cfg().image_channels, r, r}, mask.shape(), "cf_ebm::model::refine (mask)");
      ms[static_cast<std::size_t>(top)] = tensor<T>(mask);
      for (int l = top; l > start_level; --l) {
        const tensor<T>& f = ms[static_cast<std::size_t>(l)];
        const index_t c = f.extent(0), h = f.extent(1) / 2, w = f.extent(2) / 2;
        tensor<T> m(shape{c, h, w});
        for (index_t ch = 0; ch < c; ++ch)
          for (index_t i = 0; i < h; ++i)
            for (index_t j = 0; j < w; ++j) {
              const T* p = f.data() + (ch * 2 * h + 2 * i) * 2 * w + 2 * j;
              m[(ch * h + i) * w + j] = (p[0] != 0 || p[1] != 0 || p[2 * w] != 0 || p[2 * w + 1] != 0) ? T(1) : T(0);
            }
        ms[static_cast<std::size_t>(l - 1)] = std::move(m);
      }
    }
    auto sampler = sampling_.template make<T>();
    tensor<T> y = xs[static_cast<std::size_t>(start_level)];
    if (masked) {  // missing pixels start from noise
      tensor<T> noise(y.shape());
      rng.fill_uniform<T>(noise.span(), T(-1), T(1));
      const tensor<T>& m = ms[static_cast<std::size_t>(start_level)];
      for (index_t i = 0; i < y.size(); ++i)
        if (m[i % m.size()] != 0) y[i] = noise[i];
    }
    for (int l = start_level; l <= top; ++l) {
      if (l > start_level) {
        y = nn::upsample2x<T>(y, nn::upsample_mode::nearest, dev_);
        if (masked) {
          const tensor<T>& m = ms[static_cast<std::size_t>(l)];
          const tensor<T>& x = xs[static_cast<std::size_t>(l)];
          for (index_t i = 0; i < y.size(); ++i)
            if (m[i % m.size()] == 0) y[i] = x[i];
        }
      }
      with_stage(l, [&] {
        auto e = energy_of(net_);
        if (masked) sampler.run(e, y, langevin_steps(l), rng, ms[static_cast<std::size_t>(l)].view());
        else sampler.run(e, y, langevin_steps(l), rng);
      });
      for (T& v : y) v = std::clamp(v, T(-1), T(1));
    }
    return y;
  }

  /// Coarse-to-fine posterior denoising (see the top of this file).
  /// `noisy` is [N, C, H, W] at the finest resolution, y = x + N(0, sigma^2 I).
  tensor<T> denoise(const tensor<T>& noisy, philox& rng, const denoise_options& o = {}) {
    static_assert(pipeline_detail::on_host<D>, "cf_ebm::model::denoise runs on the CPU (a model<T, cpu>)");
    const int top = levels() - 1;
    const int start = o.start_level < 0 ? std::max(0, top - 1) : o.start_level;
    EBM_REQUIRE(start <= top, "cf_ebm::model::denoise: start level ", start, " out of range [0, ", levels(), ")");
    EBM_REQUIRE(o.sigma > 0 && o.temperature >= 0 && o.data_weight >= 0 && o.chains >= 1 && o.fine_steps >= -1,
                "cf_ebm::model::denoise: need sigma > 0, temperature >= 0, data_weight >= 0, chains >= 1 and "
                "fine_steps >= -1");
    check_images(noisy, "cf_ebm::model::denoise");
    // The observation at every level: 2x2 average pooling halves the noise's
    // standard deviation.
    const std::vector<tensor<T>> ys = pyramid(noisy, start);
    const double s = sampling_.step_size;
    const double tau = o.temperature > 0 ? o.temperature : sampling_.noise / s;
    // chains replicated in blocks of N (posterior_energy pairs chain i with observation i mod N)
    const tensor<T>& y0 = ys[static_cast<std::size_t>(start)];
    const index_t n = noisy.extent(0);
    tensor<T> x(y0.shape().with(0, n * o.chains));
    for (int k = 0; k < o.chains; ++k) std::copy_n(y0.data(), y0.size(), x.data() + index_t(k) * y0.size());
    for (int l = start; l <= top; ++l) {
      if (l > start) x = nn::upsample2x<T>(x, nn::upsample_mode::nearest, dev_);
      const double sigma_l = o.sigma / double(1 << (top - l));
      // w s / 2 <= 1/2: the explicit step on the data term stays a contraction.
      const T w = T(std::min(o.data_weight * tau / (sigma_l * sigma_l), 1 / s));
      const int steps = l == top && o.fine_steps >= 0 ? o.fine_steps : langevin_steps(l);
      with_stage(l, [&] {
        auto e = energy_of(net_);
        auto post = posterior_of(e, ys[static_cast<std::size_t>(l)], w);
        if (o.sample) {
          langevin<T> sampler(schedule::constant<T>(T(s)), schedule::constant<T>(T(tau * s)));
          if (sampling_.clamp) sampler.clamp(T(-1), T(1));
          if (sampling_.clip_grad_norm > 0) sampler.clip_grad_norm(T(sampling_.clip_grad_norm));
          sampler.run(post, x, steps, rng);
        } else {
          sampling_.template make<T>().run(post, x, steps, rng);
        }
      });
      for (T& v : x) v = std::clamp(v, T(-1), T(1));
    }
    if (o.chains == 1) return x;
    tensor<T> mean(noisy.shape());
    mean.fill(T(0));
    for (int k = 0; k < o.chains; ++k)
      for (index_t i = 0; i < mean.size(); ++i) mean[i] += x[index_t(k) * mean.size() + i];
    for (T& v : mean) v /= T(o.chains);
    return mean;
  }

  // ------------------------------------------------------- checkpointing --
  void save(io::checkpoint& ck) {
    const config& c = cfg();
    ck.set_meta("cf_ebm.image_channels", c.image_channels);
    ck.set_meta("cf_ebm.c", c.c);
    ck.set_meta("cf_ebm.base_resolution", c.base_resolution);
    ck.set_meta("cf_ebm.max_resolution", c.max_resolution);
    ck.set_meta("cf_ebm.spectral_norm", c.spectral_norm);
    ck.set_meta("cf_ebm.stage", net_.stage());
    ck.set_meta("cf_ebm.beta", double(net_.beta()));
    for (int l = 0; l < levels(); ++l) ck.set_meta("cf_ebm.steps" + std::to_string(l), langevin_steps(l));
    ck.set_meta("cf_ebm.sampling.step_size", sampling_.step_size);
    ck.set_meta("cf_ebm.sampling.noise", sampling_.noise);
    ck.set_meta("cf_ebm.sampling.clamp", sampling_.clamp);
    ck.set_meta("cf_ebm.sampling.clip_grad_norm", sampling_.clip_grad_norm);
    all_stages<energy_type> all{&net_};
    io::save_params(ck, all, "model");
    for (int l = 0; l < levels(); ++l) {
      if (!has_snapshot(l)) continue;
      std::size_t i = 0;
      const auto& snap = snapshots_[static_cast<std::size_t>(l)];
      const std::string prefix = "snapshot" + std::to_string(l) + ".";
      ebm::visit_params(all, [&](std::string_view name, tensor_type&, tensor_type&) { ck.put(prefix + std::string(name), snap[i++]); });
      ebm::visit_buffers(all, [&](std::string_view name, tensor_type&) { ck.put(prefix + std::string(name), snap[i++]); });
    }
  }

  /// Reads the architecture and schedule from a checkpoint's metadata.
  static model from_checkpoint(const io::checkpoint& ck, D dev = {}) {
    config c;
    c.image_channels = ck.meta_as<int>("cf_ebm.image_channels");
    c.c = ck.meta_as<int>("cf_ebm.c");
    c.base_resolution = ck.meta_as<int>("cf_ebm.base_resolution");
    c.max_resolution = ck.meta_as<int>("cf_ebm.max_resolution");
    c.spectral_norm = ck.meta_as<bool>("cf_ebm.spectral_norm");
    std::vector<int> steps;
    for (int l = 0; l < c.levels(); ++l) steps.push_back(ck.meta_as<int>("cf_ebm.steps" + std::to_string(l)));
    model m(c, steps, dev);
    m.load(ck);
    return m;
  }

  void load(const io::checkpoint& ck) {
    all_stages<energy_type> all{&net_};
    io::load_params(ck, all, "model", /*strict=*/false);
    for (int l = 0; l < levels(); ++l) {
      auto& snap = snapshots_[static_cast<std::size_t>(l)];
      snap.clear();
      const std::string prefix = "snapshot" + std::to_string(l) + ".";
      bool present = true;
      auto take = [&](std::string_view name) {
        if (!present || !ck.contains(prefix + std::string(name))) {
          present = false;
          return;
        }
        snap.push_back(pipeline_detail::empty_on<T>(dev_));
        ck.get_into(prefix + std::string(name), snap.back());
      };
      ebm::visit_params(all, [&](std::string_view name, tensor_type&, tensor_type&) { take(name); });
      ebm::visit_buffers(all, [&](std::string_view name, tensor_type&) { take(name); });
      if (!present) snap.clear();
    }
    net_.set_stage(ck.meta_as<int>("cf_ebm.stage"), T(ck.meta_as<double>("cf_ebm.beta")));
    sampling_.step_size = ck.meta_as<double>("cf_ebm.sampling.step_size");
    sampling_.noise = ck.meta_as<double>("cf_ebm.sampling.noise");
    sampling_.clamp = ck.meta_as<bool>("cf_ebm.sampling.clamp");
    sampling_.clip_grad_norm = ck.meta_as<double>("cf_ebm.sampling.clip_grad_norm");
  }

 private:
  /// Images at the finest resolution: [N, C, R, R].
  void check_images(const tensor<T>& images, const char* where) const {
    const index_t r = cfg().resolution(levels() - 1);
    EBM_REQUIRE(images.rank() == 4 && images.extent(1) == cfg().image_channels && images.extent(2) == r &&
                    images.extent(3) == r,
                where, ": expected images [N, ", cfg().image_channels, ", ", r, ", ", r, "], got ", images.shape());
  }
  /// images pooled down to every level from `start` to the finest (index =
  /// level; the levels below start stay empty).
  std::vector<tensor<T>> pyramid(const tensor<T>& images, int start) const {
    const int top = levels() - 1;
    std::vector<tensor<T>> p(static_cast<std::size_t>(top + 1));
    p[static_cast<std::size_t>(top)] = images;
    for (int l = top; l > start; --l)
      p[static_cast<std::size_t>(l - 1)] = nn::avg_pool2x2<T>(p[static_cast<std::size_t>(l)].view(), dev_);
    return p;
  }
  void swap_snapshot(int level) {
    auto& snap = snapshots_[static_cast<std::size_t>(level)];
    std::size_t i = 0;
    all_stages<energy_type> all{&net_};
    ebm::visit_params(all, [&](std::string_view, tensor_type& v, tensor_type&) { std::swap(v, snap[i++]); });
    ebm::visit_buffers(all, [&](std::string_view, tensor_type& v) { std::swap(v, snap[i++]); });
    net_.on_buffers_loaded();
  }

  energy_type net_;
  std::vector<int> steps_;
  std::vector<std::vector<tensor_type>> snapshots_;
  langevin_options sampling_;
  D dev_;
};

}  // namespace ebm::cf_ebm
