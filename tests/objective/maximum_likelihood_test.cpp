#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>

#include <ebm/ebm.hpp>
#include <ebm/energy/network.hpp>
#include <ebm/sample/langevin.hpp>

#include "finite_difference.hpp"
#include "mixture_truth.hpp"

using namespace ebm;

namespace {

auto small_mlp() {
  nn::sequential net{nn::linear<double>(2, 8), nn::swish<double>{}, nn::linear<double>(8, 6),
                     nn::softplus<double>{}, nn::linear<double>(6, 1)};
  nn::initialize(net, 11);
  return net;
}

tensor<double> normal_batch(index_t n, index_t d, std::uint64_t seed, double sd = 1) {
  tensor<double> x(shape{n, d});
  philox rng(seed);
  rng.fill_normal<double>(x.span(), 0.0, sd);
  return x;
}

}  // namespace

TEST_CASE("maximum_likelihood: loss value is mean E(data) - mean E(samples) + alpha (mean E^2 terms)") {
  // E(x) = x0 + 2 x1 (a linear network with known weights).
  nn::linear<double> net(2, 1);
  net.weight()[0] = 1, net.weight()[1] = 2, net.bias()[0] = 0;
  tensor<double> data(shape{2, 2}), samples(shape{3, 2});
  const double d[] = {1, 0, 0, 1}, s[] = {1, 1, -1, 0, 0, -1};
  std::copy(d, d + 4, data.begin());
  std::copy(s, s + 6, samples.begin());
  // E(data) = {1, 2}, E(samples) = {3, -1, -2}.
  objective::maximum_likelihood<double> ml;
  CHECK(ml.evaluate(net, data, samples) == doctest::Approx(1.5 - 0.0));
  CHECK(ml.last().energy_data == doctest::Approx(1.5));
  CHECK(ml.last().energy_sample == doctest::Approx(0.0));
  objective::maximum_likelihood<double> reg(0.5);
  CHECK(reg.evaluate(net, data, samples) == doctest::Approx(1.5 + 0.5 * (2.5 + 14.0 / 3)));

  // Gradient by hand: dL/dw = mean x_data - mean x_samples = (0.5, 0.5) - (0, 0).
  zero_grad(net);
  ml(net, data, samples);
  auto params = collect_params(net);
  CHECK((*params[0].grad)[0] == doctest::Approx(0.5));
  CHECK((*params[0].grad)[1] == doctest::Approx(0.5));
  CHECK((*params[1].grad)[0] == doctest::Approx(0.0).epsilon(1e-12));
}

TEST_CASE("maximum_likelihood: parameter gradient matches central finite differences") {
  const tensor<double> data = normal_batch(7, 2, 1), samples = normal_batch(5, 2, 2, 1.5);
  for (double alpha : {0.0, 0.3}) {
    for (double weight : {1.0, -0.7}) {
      INFO("alpha = " << alpha << ", weight = " << weight);
      auto net = small_mlp();
      objective::maximum_likelihood<double> ml(alpha);
      using Net = decltype(net);
      auto err = test::compare_with_finite_differences<Net>(
          net, [&](Net& n) { ml(n, data, samples, weight); },
          [&](Net& n) { return weight * ml.evaluate(n, data, samples); });
      INFO(err.worst);
      CHECK(err.scale > 1e-3);
      CHECK(err.max_relative < 1e-7);
    }
  }
}

TEST_CASE("maximum_likelihood: gradients accumulate and evaluate() leaves them alone") {
  auto net = small_mlp();
  const tensor<double> data = normal_batch(4, 2, 3), samples = normal_batch(4, 2, 4);
  objective::maximum_likelihood<double> ml(0.1);
  zero_grad(net);
  ml(net, data, samples);
  const tensor<double> once(*collect_params(net)[0].grad);
  ml.evaluate(net, data, samples);
  ml(net, data, samples);
  const tensor<double>& twice = *collect_params(net)[0].grad;
  for (index_t i = 0; i < once.size(); ++i) CHECK(twice[i] == doctest::Approx(2 * once[i]));
}

TEST_CASE("maximum_likelihood: a network with the wrong output shape is reported") {
  nn::linear<double> net(2, 3);
  objective::maximum_likelihood<double> ml;
  const tensor<double> x = normal_batch(4, 2, 5);
  CHECK_THROWS_WITH_AS(ml(net, x, x), doctest::Contains("one energy per sample"), ebm::error);
}

// Proof of learning: persistent-chain maximum likelihood with a small MLP
// energy recovers a 2-D Gaussian mixture.  Measured by the total variation
// between exp(-E) and the true density, both normalised on a grid.  The
// chains persist across updates (10 ULA steps each), the learning rate decays
// linearly to 0 and the density is read from the EMA of the weights, which
// averages out the noise of the sampled gradient.
TEST_CASE("maximum_likelihood: an MLP energy learns a 2-D Gaussian mixture") {
  using T = float;
  test::mixture truth = test::four_blobs();
  nn::sequential net{nn::linear<T>(2, 64), nn::swish<T>{}, nn::linear<T>(64, 64), nn::swish<T>{},
                     nn::linear<T>(64, 1)};
  nn::initialize(net, 3);
  auto energy = energy_of(net);
  const test::grid2d grid{-2.5, 2.5, 80};
  const double tv0 = grid.total_variation(net, truth);

  const index_t batch = 256, chains = 256;
  const int iterations = 2000;
  const double lr = 2e-3;
  philox data_rng(10), chain_rng(11);
  tensor<T> chain(shape{chains, 2});
  chain_rng.fill_uniform<T>(chain.span(), T(-2), T(2));
  auto sampler = unadjusted_langevin<T>(T(0.02));
  auto params = collect_params(net);
  optim::adam<T> opt(params, {.lr = lr, .beta1 = 0.5, .beta2 = 0.999});
  optim::ema<T> average(params, 0.99);
  objective::maximum_likelihood<T> ml(T(0.01));
  tensor<T> data;
  for (int it = 0; it < iterations; ++it) {
    data = tensor_cast<T>(truth.sample(batch, data_rng));
    sampler.run(energy, chain, 10, chain_rng);
    zero_grad(net);
    ml(net, data, chain);
    opt.set_lr(lr * (1 - double(it) / iterations));
    opt.step();
    average.update();
  }
  const double tv_live = grid.total_variation(net, truth);
  auto swap = average.swapped();
  const double tv = grid.total_variation(net, truth);
  std::printf("maximum likelihood on a 2-D mixture: total variation %.4f at start, %.4f after %d steps "
              "(EMA weights; %.4f live)\n", tv0, tv, iterations, tv_live);
  CHECK(tv0 > 0.5);
  CHECK(tv < 0.1);
}
