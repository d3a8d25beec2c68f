#pragma once
// The denoising Fisher divergence (EGC eqs. 6–11, Algorithm 1): denoising
// score matching on the energy's input gradient, with exact second
// derivatives for the parameter gradient.
//
// Per sample i a timestep t_i is drawn uniformly from [first, last] (all of
// the schedule by default) and ε_i ~ N(0, I):
//
//   x_i = √ᾱ(t_i) x0_i + σ_i ε_i,   σ_i = √(1 − ᾱ(t_i)),   g_i = ∇ₓ E_θ(x_i).
//
// The model's score is s_θ = ∇ₓ log p_θ = −g, the target the score of
// q(x_t | x_0), −ε/σ (EGC eq. 10).  The loss is
//
//   L = (1/N) Σ_i ½ ‖r_i‖²,   r_i = a_i g_i − b_i ε_i,
//
// summed over the features of a sample and averaged over the batch, with
// (a_i, b_i) fixed by the parameterisation of the target:
//
//   score           a = 1, b = 1/σ:  r = −(s_θ − (−ε/σ))        (EGC eq. 11)
//   noise           a = σ, b = 1:    r = σ ∇ₓE − ε = ε̂ − ε       (eq. 11 weighted by σ²)
//   noise_unscaled  a = 1, b = 1:    r = ∇ₓE − ε = −(∇ₓ log p_θ + ε)  (EGC Algorithm 1 as printed)
//
// `noise` is the default: its residual has unit scale at every noise level
// (the reason Algorithm 1 regresses the noise) while E_θ stays an energy of
// x_t with score −∇ₓE at every t, so samplers use the trained network as it
// is.  `noise_unscaled` is Algorithm 1 literally; there the network's input
// gradient matches σ_t times the score, which only a time-conditioned
// network can represent across t.
//
// Gradient (forward-over-reverse, nn/layer.hpp).  L depends on θ only
// through g, and ∂L/∂θ = Σ_i (a_i/N) r_iᵀ ∂g_i/∂θ = ∂/∂θ ⟨v, ∇ₓ Σ_i E(x_i)⟩
// with v_i = (a_i/N) r_i held constant.  Since ⟨v, ∇ₓF⟩ = d/dh F(x + h v),
// that is d/dh ∇θ Σ_i E(x_i + h v_i) at h = 0: the tangent of the parameter
// gradient of backward(ones) along dx = v (and dgy = 0, the seed being
// constant).  One call does, at one point:
//
//   forward(x_t); backward(ones, grad::input) → g;  r and v from g;
//   forward_tangent(v); backward_tangent(zeros, grad::params).
//
// Time conditioning: before forward the objective passes t to networks that
// model set_time() (objective/time_conditioning.hpp) and to a callback set
// with on_time() (for a time-dependent block nested inside a network).
//
// Devices: on ebm::cpu everything below runs in host loops.  On another
// device (D = ebm::cuda with a network built on it, in a .cu file including
// ebm/device/cuda/cuda.cuh) x0, ε, x_t and the tangent direction stay there:
// t is drawn on the host with the same philox calls and copied over, ε is
// drawn by the device Philox (the host's numbers), x_t and r are kernels of
// diffusion_kernels<D>, and the N per-sample sums ‖r_i‖² are read back once
// for the loss.
#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <type_traits>
#include <utility>

#include "../core/philox.hpp"
#include "../nn/layer.hpp"
#include "detail/diffusion_device.hpp"
#include "detail/energy_output.hpp"
#include "noise_schedule.hpp"
#include "time_conditioning.hpp"

namespace ebm::objective {

/// What the network's input gradient is regressed onto (see the header comment).
enum class fisher_target { score, noise, noise_unscaled };

template <class T = float, class D = cpu>
class denoising_fisher {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  explicit denoising_fisher(noise_schedule schedule, fisher_target target = fisher_target::noise)
      : schedule_(std::move(schedule)), target_(target), first_(0), last_(schedule_.steps() - 1) {}

  const noise_schedule& schedule() const { return schedule_; }
  fisher_target target() const { return target_; }

  /// Restricts the timesteps drawn by the random overload to [first, last].
  void set_timestep_range(int first, int last) {
    EBM_REQUIRE(0 <= first && first <= last && last < schedule_.steps(),
                "denoising_fisher: timestep range [", first, ", ", last,
                "] is not inside the schedule's [0, ", schedule_.steps() - 1, "]");
    first_ = first;
    last_ = last;
  }
  int first_timestep() const { return first_; }
  int last_timestep() const { return last_; }

  /// Called with the timesteps [N] before every forward pass, in addition to
  /// the network's own set_time() when it has one.
  void on_time(std::function<void(const tensor_type&)> hook) { time_hook_ = std::move(hook); }

  /// Draws t and ε from `rng`, returns L and adds weight·∇θ L to the
  /// network's parameter gradients.
  template <class Net>
  T operator()(Net& net, const tensor_type& x0, philox& rng, T weight = T(1)) {
    draw(x0, rng);
    return run(net, x0, weight, true);
  }
  /// The same with given timesteps t[N] and noise ε (shape of x0).
  template <class Net>
  T operator()(Net& net, const tensor_type& x0, std::span<const int> t, const tensor_type& eps,
               T weight = T(1)) {
    set(x0, t, eps);
    return run(net, x0, weight, true);
  }
  /// The loss alone at given t and ε; parameter gradients are left untouched.
  template <class Net>
  T evaluate(Net& net, const tensor_type& x0, std::span<const int> t, const tensor_type& eps) {
    set(x0, t, eps);
    return run(net, x0, T(1), false);
  }
  /// The loss alone with t and ε drawn from `rng`.
  template <class Net>
  T evaluate(Net& net, const tensor_type& x0, philox& rng) {
    draw(x0, rng);
    return run(net, x0, T(1), false);
  }

  /// The noised batch x_t, the timesteps [N] and the noise ε of the last
  /// call (a classification term of EGC reuses x_t and t).
  const tensor_type& noised() const { return xt_; }
  const tensor_type& timesteps() const { return t_; }
  const tensor_type& noise() const { return eps_; }

 private:
  static constexpr bool on_host = std::is_same_v<D, cpu>;

  void draw(const tensor_type& x0, philox& rng) {
    require_batch(x0);
    const index_t n = x0.extent(0);
    const auto span = static_cast<std::uint64_t>(last_ - first_ + 1);
    tensor<T, cpu>& th = ebm::detail::host_side(t_, t_host_);
    th.resize(shape{n});
    for (index_t i = 0; i < n; ++i) th[i] = T(first_ + static_cast<int>(rng.uniform_int(span)));
    ebm::detail::publish(t_host_, t_, x0);
    ebm::detail::bind_like(eps_, x0);
    eps_.resize(x0.shape());
    if constexpr (on_host) rng.fill_normal<T>(eps_.span());
    else fill_normal(eps_, rng);  // the device Philox: the numbers rng.fill_normal would draw
  }
  void set(const tensor_type& x0, std::span<const int> t, const tensor_type& eps) {
    require_batch(x0);
    const index_t n = x0.extent(0);
    EBM_REQUIRE(static_cast<index_t>(t.size()) == n, "denoising_fisher: got ", t.size(),
                " timesteps for a batch of ", n);
    require_same_shape(x0.shape(), eps.shape(), "denoising_fisher (noise)");
    for (index_t i = 0; i < n; ++i)
      EBM_REQUIRE(0 <= t[i] && t[i] < schedule_.steps(), "denoising_fisher: timestep ", t[i],
                  " of sample ", i, " is outside the schedule's [0, ", schedule_.steps() - 1, "]");
    tensor<T, cpu>& th = ebm::detail::host_side(t_, t_host_);
    th.resize(shape{n});
    for (index_t i = 0; i < n; ++i) th[i] = T(t[i]);
    ebm::detail::publish(t_host_, t_, x0);
    ebm::detail::bind_like(eps_, x0);
    if (&eps != &eps_) eps_ = eps;
  }
  /// Per-sample coefficients for both paths, one row of coef_host_ each:
  /// √ᾱ_t, σ_t, the residual's a and b (r = a·∇E − b·ε) and the tangent
  /// direction's scale weight·a/N.
  void coefficients(index_t n, T weight) {
    const tensor<T, cpu>& t = ebm::detail::host_side(t_, t_host_);
    coef_host_.resize(shape{5, n});
    T* c = coef_host_.data();
    for (index_t i = 0; i < n; ++i) {
      const int ti = static_cast<int>(t[i]);
      const T c0 = T(schedule_.sqrt_alpha_bar(ti)), sigma = T(schedule_.sigma(ti));
      const T a = target_ == fisher_target::noise ? sigma : T(1);
      c[i] = c0;
      c[n + i] = sigma;
      c[2 * n + i] = a;
      c[3 * n + i] = target_ == fisher_target::score ? T(1) / sigma : T(1);
      c[4 * n + i] = weight * a / T(n);
    }
  }

  /// Sets the network's time, runs the forward pass at x_t and returns the
  /// input gradient ∇ₓE (ones_ holds the energies' shape).
  template <class Net>
  const tensor_type& input_gradient(Net& net, const D& dev) {
    set_time(net, t_);
    if (time_hook_) time_hook_(t_);
    const tensor_type& y = net.forward(xt_);
    detail::require_energies(y, xt_, "denoising_fisher");
    const tensor_type& g = ebm::detail::backward_of_ones(net, ones_, y.shape(), dev);
    require_same_shape(xt_.shape(), g.shape(), "denoising_fisher (input gradient)");
    return g;
  }

  /// The second-order pass: the tangent along v_ and the parameter gradients.
  template <class Net>
  void tangent_pass(Net& net, const D& dev) {
    net.forward_tangent(v_);
    net.backward_tangent(ebm::detail::zero_seed(zeros_, ones_.shape(), dev), grad::params);
  }
  static void require_batch(const tensor_type& x0) {
    EBM_REQUIRE(x0.rank() >= 2 && x0.extent(0) > 0,
                "denoising_fisher: expected a non-empty batch [N, ...], got ", x0.shape());
  }

  template <class Net>
  T run(Net& net, const tensor_type& x0, T weight, bool grads) {
    if constexpr (on_host) return run_host(net, x0, weight, grads);
    else return run_device(net, x0, weight, grads);
  }

  template <class Net>
  T run_host(Net& net, const tensor_type& x0, T weight, bool grads) {
    detail::require_host_network<Net>();
    const index_t n = x0.extent(0), d = x0.shape().sample_size();

    // x_t from the per-sample coefficients.
    coefficients(n, weight);
    const T* c = coef_host_.data();
    ebm::detail::noise_on_host(x0, eps_, c, xt_);
    const tensor_type& g = input_gradient(net, cpu{});

    // r_i = a_i g_i − b_i ε_i, the loss, and the tangent direction v = weight (a_i/N) r_i.
    v_.resize(xt_.shape());
    double loss = 0;
    for (index_t i = 0; i < n; ++i) {
      double sq = 0;
      const T scale = c[4 * n + i];
      for (index_t j = i * d; j < (i + 1) * d; ++j) {
        const T r = c[2 * n + i] * g[j] - c[3 * n + i] * eps_[j];
        sq += double(r) * double(r);
        v_[j] = scale * r;
      }
      loss += 0.5 * sq;
    }
    loss /= double(n);

    if (grads) tangent_pass(net, cpu{});
    return static_cast<T>(loss);
  }

  // The same steps on a device: per-sample coefficients computed on the host
  // (as in run_host) and copied, x_t and r by kernels, Σ r² read back.
  template <class Net>
  T run_device(Net& net, const tensor_type& x0, T weight, bool grads) {
    detail::require_network_on<Net, D>();
    const index_t n = x0.extent(0), d = x0.shape().sample_size();
    const D dev = x0.device();
    coefficients(n, weight);
    ebm::detail::upload(coef_host_, coef_, dev);
    const T* cd = coef_.data();
    ebm::detail::bind_to(xt_, dev);
    xt_.resize(x0.shape());
    diffusion_kernels<D>::template noise<T>(dev, x0.data(), eps_.data(), cd, cd + n, xt_.data(), n, d);
    const tensor_type& g = input_gradient(net, dev);

    ebm::detail::bind_to(v_, dev);
    v_.resize(xt_.shape());
    ebm::detail::bind_to(sq_, dev);
    sq_.resize(shape{n});
    diffusion_kernels<D>::template fisher_residual<T>(dev, g.data(), eps_.data(), cd + 2 * n, cd + 3 * n,
                                                      cd + 4 * n, v_.data(), sq_.data(), n, d);
    if (grads) tangent_pass(net, dev);
    copy(sq_, sq_host_);  // waits for the passes queued before it
    double loss = 0;
    for (index_t i = 0; i < n; ++i) loss += 0.5 * sq_host_[i];
    loss /= double(n);
    return static_cast<T>(loss);
  }

  noise_schedule schedule_;
  fisher_target target_;
  int first_, last_;
  std::function<void(const tensor_type&)> time_hook_;
  tensor_type xt_, eps_, t_, ones_, zeros_, v_;
  // Both paths: the per-sample coefficients (rows of coef_host_).  Device runs
  // only: the host staging of t, the coefficients' device copy, and the
  // per-sample sums of squares.
  tensor<T, cpu> coef_host_, t_host_;
  tensor_type coef_;
  tensor<double, D> sq_;
  tensor<double, cpu> sq_host_;
};

}  // namespace ebm::objective
