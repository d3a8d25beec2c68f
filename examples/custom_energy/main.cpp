// ebm_custom_energy: what a user writes.  Two energies — a hand-written
// analytic one and a network composed at compile time — plugged into the
// same samplers, and the network trained by an objective in a few lines.
//
//   1. ring_energy: E(x) = (|x| − 1.5)² / (2 · 0.2²), a struct with energy()
//      and energy_and_grad(); HMC draws "data" from it.
//   2. An MLP energy (nn::sequential) learns that data with the denoising
//      Fisher divergence and Adam.
//   3. Both energies are sampled by unadjusted Langevin and by MALA from the
//      same start; the radii of the samples show that the network learned the
//      ring (a little wider: it learned the data blurred by the training noise).
#include <cmath>
#include <cstdio>

#include <ebm/ebm.hpp>
#include <ebm/energy/network.hpp>
#include <ebm/sample/hmc.hpp>
#include <ebm/sample/langevin.hpp>
#include <ebm/sample/mala.hpp>

using T = float;

// An analytic energy: anything with value_type, device_type, energy(x) and
// energy_and_grad(x, g) over batches [N, 2] satisfies ebm::energy_function.
struct ring_energy {
  using value_type = T;
  using device_type = ebm::cpu;
  static constexpr T radius = 1.5f, width = 0.2f;

  const ebm::tensor<T>& energy(const ebm::tensor<T>& x) {
    e.resize(ebm::shape{x.extent(0)});
    for (ebm::index_t i = 0; i < x.extent(0); ++i) {
      const T d = std::hypot(x(i, 0), x(i, 1)) - radius;
      e[i] = d * d / (2 * width * width);
    }
    return e;
  }
  const ebm::tensor<T>& energy_and_grad(const ebm::tensor<T>& x, ebm::tensor<T>& g) {
    g.resize(x.shape());
    for (ebm::index_t i = 0; i < x.extent(0); ++i) {
      const T r = std::max(std::hypot(x(i, 0), x(i, 1)), T(1e-6));
      const T dE_dr = (r - radius) / (width * width);  // ∇E = dE/dr · x/r
      g(i, 0) = dE_dr * x(i, 0) / r;
      g(i, 1) = dE_dr * x(i, 1) / r;
    }
    return energy(x);
  }
  ebm::tensor<T> e;
};
static_assert(ebm::energy_function<ring_energy>);

// Runs a sampler on an energy from the same 1000 starting points and prints
// the mean and spread of the samples' radii.
template <class Energy, class Sampler>
void report(const char* what, Energy& energy, Sampler sampler, ebm::philox& rng) {
  ebm::tensor<T> x(ebm::shape{1000, 2});
  ebm::philox(99).fill_normal<T>(x.span());
  const ebm::chain_stats st = sampler.run(energy, x, 1000, rng);
  double m = 0, m2 = 0;
  for (ebm::index_t i = 0; i < x.extent(0); ++i) {
    const double r = std::hypot(x(i, 0), x(i, 1));
    m += r / 1000, m2 += r * r / 1000;
  }
  std::printf("  %-20s radius %.3f ± %.3f   acceptance %.2f\n", what, m, std::sqrt(m2 - m * m),
              st.acceptance_rate());
}

int main() {
  ebm::philox rng(7);
  namespace nn = ebm::nn;

  // 1. Data: 4000 HMC samples of the analytic energy.
  ring_energy ring;
  ebm::tensor<T> data(ebm::shape{4000, 2});
  rng.fill_normal<T>(data.span());
  ebm::hmc<T>(0.1f, 10).run(ring, data, 300, rng);

  // 2. A network energy, trained by the denoising Fisher divergence.
  nn::sequential net{nn::linear<T>(2, 64), nn::swish<T>{}, nn::linear<T>(64, 64), nn::swish<T>{},
                     nn::linear<T>(64, 1)};
  ebm::objective::denoising_fisher<T> fisher(ebm::noise_schedule::linear(1000));
  fisher.set_timestep_range(10, 30);  // small noise: sigma 0.05 to 0.11
  ebm::optim::adam<T> adam(ebm::collect_params(net), {.lr = 5e-3});
  ebm::tensor<T> batch(ebm::shape{512, 2});
  for (int step = 0; step < 3000; ++step) {
    for (ebm::index_t i = 0; i < 512; ++i) {
      const auto row = ebm::index_t(rng.uniform_int(4000));
      batch(i, 0) = data(row, 0), batch(i, 1) = data(row, 1);
    }
    ebm::zero_grad(net);
    const T loss = fisher(net, batch, rng);
    adam.step();
    if (step % 1000 == 0) std::printf("step %4d  Fisher loss %.4f\n", step, loss);
  }

  // 3. The same two samplers on both energies.
  auto learned = ebm::energy_of(net);
  std::printf("samples (the ring has radius %.1f and width %.1f):\n", ring_energy::radius, ring_energy::width);
  report("analytic, Langevin", ring, ebm::unadjusted_langevin<T>(0.005f), rng);
  report("analytic, MALA", ring, ebm::mala<T>(0.05f), rng);
  report("network, Langevin", learned, ebm::unadjusted_langevin<T>(0.005f), rng);
  report("network, MALA", learned, ebm::mala<T>(0.05f), rng);
  return 0;
}
