#include <doctest/doctest.h>

#include <cstring>

#include <ebm/energy/network.hpp>
#include <ebm/nn/elementwise.hpp>
#include <ebm/nn/linear.hpp>
#include <ebm/nn/sequential.hpp>
#include <ebm/sample/hmc.hpp>
#include <ebm/sample/langevin.hpp>
#include <ebm/sample/mala.hpp>
#include <ebm/sample/short_run.hpp>

using namespace ebm;

// The samplers take any ebm::energy_function; here a tiny MLP energy
// E(x) = W2 swish(W1 x + b1) + b2 through network_energy.

namespace {
auto make_mlp() {
  nn::sequential net{nn::linear<double>(3, 16), nn::swish<double>{}, nn::linear<double>(16, 1)};
  nn::initialize(net, 1234);
  return net;
}
}  // namespace

TEST_CASE("samplers on a network energy: gradient steps, reproducibility, acceptance") {
  auto net = make_mlp();
  auto energy = energy_of(net);
  static_assert(energy_function<decltype(energy)>);
  philox rng(1);
  tensor<double> x0(shape{10, 3});
  rng.fill_uniform(x0.span(), -1.0, 1.0);

  SUBCASE("a noise-free step is x - (s/2) grad E with the network's input gradient") {
    tensor<double> g;
    energy.energy_and_grad(x0, g);
    const tensor<double> expected_g = g;
    tensor<double> x = x0;
    langevin sampler{schedule::constant(0.3), schedule::constant(0.0)};
    sampler.run(energy, x, 1, rng);
    for (index_t i = 0; i < x.size(); ++i) CHECK(x[i] == doctest::Approx(x0[i] - 0.15 * expected_g[i]).epsilon(1e-14));
    // Small noise-free steps descend the energy of every chain.
    const tensor<double> e_before(energy.energy(x));
    langevin descent{schedule::constant(0.01), schedule::constant(0.0)};
    descent.run(energy, x, 20, rng);
    const tensor<double>& e_after = energy.energy(x);
    for (index_t c = 0; c < 10; ++c) CHECK(e_after[c] < e_before[c]);
  }
  SUBCASE("CF-EBM short-run chains on the MLP are reproducible from the seed") {
    auto sampler = cf_ebm_short_run<double>(shape{3}, 15, 0.1);
    philox r1(8), r2(8);
    const tensor<double> a = sampler.sample(energy, 10, r1);
    const tensor<double> b = sampler.sample(energy, 10, r2);
    CHECK(std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0);
  }
  SUBCASE("MALA and HMC report acceptance on the MLP energy") {
    tensor<double> x = x0;
    const chain_stats m = mala<double>(0.05).run(energy, x, 30, rng);
    CHECK(m.acceptance_rate() > 0.5);
    CHECK(m.grad_evals == 31);
    const chain_stats h = hmc<double>(0.05, 4).run(energy, x, 10, rng);
    CHECK(h.acceptance_rate() > 0.5);
    CHECK(h.grad_evals == 41);
  }
}

TEST_CASE("samplers on a float network energy") {
  nn::sequential net{nn::linear<float>(4, 8), nn::swish<float>{}, nn::linear<float>(8, 1)};
  auto energy = energy_of(net);
  philox rng(2);
  tensor<float> x(shape{5, 4});
  rng.fill_uniform(x.span(), -1.0f, 1.0f);
  auto sampler = cf_ebm_langevin<float>();
  sampler.clamp(-1, 1).clip_grad_norm(10.0f);
  const chain_stats st = sampler.run(energy, x, 10, rng);
  CHECK(st.steps == 10);
  for (float v : x) CHECK((v >= -1 && v <= 1));
}
