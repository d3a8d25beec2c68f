#pragma once
// Langevin dynamics on the GPU, with the noise mapping of ebm::langevin
// (sample/langevin.hpp): step t of a chain started with generator state
// (seed, stream, offset) draws its N(0, I) noise as fill_normal over the
// whole batch at block offset + t * ceil(size / lanes) (lanes = 4 for float,
// 2 for double).  Same seed and schedules, same noise as the host sampler.
//
// 1. gaussian_langevin: every step of every chain for the analytic energy
//    E(x) = 1/2 (x - mu)^T P (x - mu) (precision P, symmetric) in ONE kernel
//    launch: one thread block per chain keeps its state in shared memory;
//    step t computes grad = P (x - mu) and x <- x - (s_t / 2) grad +
//    sqrt(eta_t) eps.
//
// 2. cuda_langevin_chain: a short run of `steps` steps on a network energy
//    (any block on ebm::cuda returning one energy per sample), each step
//    forward, backward of ones (input gradient only) and one fused update
//    kernel.  The Philox offset lives in device memory and the update
//    kernels read it, so the whole chain can be captured once into a CUDA
//    graph and replayed: each replay (like each eager run) advances the
//    device offset by steps * ceil(size / lanes) blocks.
//
//      ebm::cuda_langevin_chain chain(net, 60, ebm::schedule::constant(1.0f),
//                                     ebm::schedule::cf_ebm_decay(2e-2f), rng);
//      chain.run(x);                         // eager
//      auto graph = chain.capture(x);        // x keeps its values
//      graph.launch();                       // = chain.run(x), one launch
//
// Host-API declarations; the kernels and the functions that launch them are
// defined in langevin.cuh.
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "../../core/philox.hpp"
#include "../../nn/layer.hpp"
#include "../../sample/schedules.hpp"
#include "graph.hpp"
#include "tensor.hpp"

namespace ebm {

namespace detail {
/// Half step sizes and noise scales (s_t / 2, sqrt(eta_t)) of every step,
/// interleaved, computed in T exactly as ebm::langevin does.
template <class T, class StepPolicy, class NoisePolicy>
std::vector<T> langevin_coefficients(int steps, const StepPolicy& step, const NoisePolicy& noise,
                                     const char* who) {
  static_assert(step_schedule<StepPolicy, T> && step_schedule<NoisePolicy, T>,
                "Langevin schedules must be callable as policy(t, steps) -> T (sample/schedules.hpp)");
  EBM_REQUIRE(steps >= 0, who, ": negative number of steps ", steps);
  std::vector<T> c(2 * static_cast<std::size_t>(steps));
  for (int t = 0; t < steps; ++t) {
    const T s = static_cast<T>(step(t, steps));
    const T eta = static_cast<T>(noise(t, steps));
    EBM_REQUIRE(s >= T(0) && eta >= T(0), who,
                ": step size and noise variance must be non-negative, got s = ", s,
                " and eta = ", eta, " at step ", t);
    c[2 * static_cast<std::size_t>(t)] = s / T(2);
    c[2 * static_cast<std::size_t>(t) + 1] = std::sqrt(eta);
  }
  return c;
}
/// Philox blocks one noise draw of n elements of T consumes.
template <class T>
constexpr std::uint64_t noise_blocks(index_t n) {
  constexpr index_t lanes = sizeof(T) == 4 ? 4 : 2;
  return static_cast<std::uint64_t>((n + lanes - 1) / lanes);
}
}  // namespace detail

/// Runs `steps` Langevin steps on x ([N, D] or [N, ...] with D features) for
/// E(x) = 1/2 (x - mu)^T P (x - mu), mean [D] and precision [D, D]
/// (symmetric), in one kernel launch on x's stream.  Draws the noise from
/// rng's state and advances rng by steps * ceil(N D / lanes) blocks, as
/// ebm::langevin would.  D is limited by shared memory: 2 D sizeof(T) <= 48 KiB.
template <class T, class StepPolicy, class NoisePolicy>
void gaussian_langevin(tensor<T, cuda>& x, const tensor<T, cuda>& mean,
                       const tensor<T, cuda>& precision, int steps, const StepPolicy& step,
                       const NoisePolicy& noise, philox& rng);

/// Short-run Langevin on a network energy, capturable as a CUDA graph.
template <class Net, class StepPolicy, class NoisePolicy>
class cuda_langevin_chain {
 public:
  using value_type = typename Net::value_type;
  using T = value_type;
  using tensor_type = tensor<T, cuda>;
  static_assert(std::is_same_v<typename Net::device_type, cuda>,
                "cuda_langevin_chain: the network must be built on ebm::cuda");
  static_assert(differentiable_block<Net>,
                "cuda_langevin_chain: the network must follow the derivative contract "
                "(ebm/nn/layer.hpp)");
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "cuda_langevin_chain: float or double");

  /// A chain of `steps` steps on `net` (referenced, not owned) with noise
  /// from generator state `rng` (copied: the chain keeps its own offset).
  cuda_langevin_chain(Net& net, int steps, StepPolicy step, NoisePolicy noise, const philox& rng,
                      const cuda& dev = {})
      : net_(&net), steps_(steps), dev_(dev), seed_(rng.seed()), stream_(rng.stream()),
        coef_(detail::langevin_coefficients<T>(steps, step, noise, "cuda_langevin_chain")),
        ones_(dev), counter_(dev) {
    set_state(rng);
  }

  int steps() const { return steps_; }
  const cuda& device() const { return dev_; }

  /// Runs all steps on x ([N, ...]) in place and advances the offset.
  void run(tensor_type& x);

  /// Prepares every buffer at x (one forward and backward pass; x is not
  /// changed) and captures run(x) into a graph.  Each launch of the graph
  /// then runs the chain on the same tensor x, continuing the noise stream.
  cuda_graph capture(tensor_type& x) {
    prepare(x);
    return cuda_graph::capture(dev_, [&] { run(x); });
  }

  /// The generator state after everything queued so far (reads the device
  /// offset: waits for the stream).
  philox state() const {
    tensor<std::uint64_t, cpu> h;
    copy(counter_, h);
    philox r(seed_, stream_);
    r.set_offset(h[0]);
    return r;
  }
  /// Restarts the noise stream at rng's offset (seed and stream id must be
  /// those the chain was built with).
  void set_state(const philox& rng) {
    EBM_REQUIRE(rng.seed() == seed_ && rng.stream() == stream_,
                "cuda_langevin_chain::set_state: another seed or stream id than the chain's");
    tensor<std::uint64_t, cpu> h(shape{1});
    h[0] = rng.offset();
    copy(h, counter_);
  }

 private:
  /// Forward and backward at x (allocating every buffer a step uses) and
  /// loading of the update kernels: what capture() needs done eagerly.
  void prepare(tensor_type& x);
  /// Forward and backward of ones at x; returns the input gradient.
  const tensor_type& gradient(const tensor_type& x);

  Net* net_;
  int steps_;
  cuda dev_;
  std::uint64_t seed_, stream_;
  std::vector<T> coef_;  // s_t / 2, sqrt(eta_t) interleaved
  tensor_type ones_;
  tensor<std::uint64_t, cuda> counter_;  // Philox block offset of the next run
};

}  // namespace ebm
