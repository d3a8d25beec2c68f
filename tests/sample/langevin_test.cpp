#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include <ebm/energy/gaussian.hpp>
#include <ebm/sample/langevin.hpp>

using namespace ebm;

namespace {
double variance_about_zero(const tensor<double>& x) {
  double s = 0;
  for (double v : x) s += v * v;
  return s / static_cast<double>(x.size());
}

// e_i = |x_i|^2 / 2 for each chain i.
void half_squares(const tensor<double>& x, tensor<double>& e) {
  const index_t n = x.extent(0), per = x.shape().sample_size();
  e.resize(shape{n});
  for (index_t i = 0; i < n; ++i) {
    double s = 0;
    for (index_t j = 0; j < per; ++j) s += 0.5 * x[i * per + j] * x[i * per + j];
    e[i] = s;
  }
}

// E(x) = x^2/2 per coordinate, except that at one call the gradient of one
// chain is poisoned (NaN) or its energy is.
struct poisoned_energy {
  using value_type = double;
  using device_type = cpu;
  int poison_call = 4;
  index_t poison_chain = 2;
  bool poison_energy = false;
  int calls = 0;
  tensor<double> e;
  const tensor<double>& energy(const tensor<double>& x) {
    half_squares(x, e);
    return e;
  }
  const tensor<double>& energy_and_grad(const tensor<double>& x, tensor<double>& g) {
    energy(x);
    g = x;
    if (calls++ == poison_call) {
      const index_t per = x.shape().sample_size();
      if (poison_energy) e[poison_chain] = std::numeric_limits<double>::quiet_NaN();
      else g[poison_chain * per + 1] = std::numeric_limits<double>::quiet_NaN();
    }
    return e;
  }
};
}  // namespace

TEST_CASE("ULA on a Gaussian: the stationary variance is sigma^2 / (1 - s / (4 sigma^2)) at every step size") {
  // E = x^2 / 2 (sigma = 1) in 8 independent coordinates; x <- x - (s/2) x + sqrt(s) eps
  // is the AR(1) recursion x' = (1 - s/2) x + sqrt(s) eps with stationary variance
  // s / (1 - (1 - s/2)^2) = 1 / (1 - s/4).  The chains start from the target N(0, 1):
  // the variance gap (2.6% at s = 0.1) decays as (1 - s/2)^(2k), to 0.2% of itself
  // (5e-5 absolute) after 60 steps at s = 0.1, so the final states are draws from the
  // ULA law.
  // Monte Carlo error: 40000 chains x 8 coordinates = 320000 independent draws; the
  // relative standard error of their second moment is sqrt(2 / 320000) = 0.0025.
  // Tolerance: 4 standard errors (1%) around the closed form.  The ULA bias (2.6%, 11%,
  // 33%) is 10 or more standard errors from 1, so the test also sees the bias itself.
  auto target = gaussian<double>::isotropic(8, 1.0);
  const double rel_tol = 4 * std::sqrt(2.0 / 320000);
  double previous_bias = 0;
  for (double s : {0.1, 0.4, 1.0}) {
    INFO("step size " << s);
    philox rng(2024, static_cast<std::uint64_t>(s * 10));
    tensor<double> x = target.sample(40000, rng);
    auto sampler = unadjusted_langevin(s);
    const chain_stats st = sampler.run(target, x, 60, rng);
    CHECK(st.grad_evals == 60);
    const double v = variance_about_zero(x);
    const double theory = 1.0 / (1.0 - s / 4.0);
    CHECK(std::abs(v / theory - 1) < rel_tol);
    CHECK(v - 1 > 0.9 * (theory - 1));  // the bias is really there ...
    CHECK(v - 1 > previous_bias);       // ... and shrinks with the step size
    previous_bias = v - 1;
  }
}

TEST_CASE("ULA in float reproduces the same closed form") {
  // Float chains, 20000 x 4 = 80000 draws: relative standard error sqrt(2/80000) = 0.005,
  // tolerance 4 standard errors; float rounding (1e-7 per step) is far below that.
  auto target = gaussian<float>::isotropic(4, 1.0f);
  philox rng(7);
  tensor<float> x = target.sample(20000, rng);
  auto sampler = unadjusted_langevin(0.5f);
  sampler.run(target, x, 80, rng);
  double m2 = 0;
  for (float v : x) m2 += double(v) * v;
  m2 /= double(x.size());
  CHECK(std::abs(m2 * (1 - 0.5 / 4) - 1) < 4 * std::sqrt(2.0 / 80000));
}

TEST_CASE("langevin: a fixed seed gives bit-identical chains, another seed other chains") {
  auto target = gaussian<double>::ar1(5, 0.6);
  auto sampler = cf_ebm_langevin<double>(0.2);
  auto run = [&](std::uint64_t seed) {
    philox rng(seed);
    tensor<double> x(shape{16, 5}, 0.5);
    sampler.run(target, x, 30, rng);
    return x;
  };
  const auto a = run(11), b = run(11), c = run(12);
  CHECK(std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0);
  CHECK(std::memcmp(a.data(), c.data(), sizeof(double) * a.size()) != 0);
}

TEST_CASE("langevin with a mask moves only masked entries; the others stay bit-identical") {
  auto target = gaussian<double>::isotropic(36, 0.3);
  philox rng(5);
  tensor<double> x(shape{4, 1, 6, 6});
  rng.fill_uniform(x.span(), -1.0, 1.0);
  x[7] = -0.0;  // a negative zero outside the mask must keep its sign bit
  SUBCASE("mask of one sample's shape, shared by the batch") {
    tensor<double> mask(shape{1, 6, 6});
    for (index_t i = 0; i < mask.size(); ++i) mask[i] = (i % 3 == 0) ? 1.0 : 0.0;
    const tensor<double> before = x;
    langevin sampler{schedule::constant(0.05), schedule::linear_decay(0.05)};
    sampler.clamp(-1, 1);
    sampler.run(target, x, 25, rng, mask);
    for (index_t i = 0; i < x.size(); ++i) {
      if (mask[i % 36] == 0) CHECK(std::memcmp(&x[i], &before[i], sizeof(double)) == 0);
      else CHECK(x[i] != before[i]);
    }
  }
  SUBCASE("mask of the batch's shape") {
    tensor<double> mask(x.shape());
    for (index_t i = 0; i < mask.size(); ++i) mask[i] = (i % 5 == 1) ? 1.0 : 0.0;
    const tensor<double> before = x;
    auto sampler = unadjusted_langevin(0.01);
    sampler.clip_grad_norm(0.5);
    sampler.run(target, x, 10, rng, mask);
    for (index_t i = 0; i < x.size(); ++i) {
      if (mask[i] == 0) CHECK(std::memcmp(&x[i], &before[i], sizeof(double)) == 0);
      else CHECK(x[i] != before[i]);
    }
  }
  SUBCASE("a mask of the wrong size is refused") {
    tensor<double> mask(shape{5});
    auto sampler = unadjusted_langevin(0.01);
    CHECK_THROWS_WITH_AS(sampler.run(target, x, 1, rng, mask), doctest::Contains("mask"), ebm::error);
  }
}

TEST_CASE("langevin: a NaN stops the chain with an error naming the chain and the step") {
  poisoned_energy e;
  auto sampler = unadjusted_langevin(0.1);
  philox rng(1);
  tensor<double> x(shape{5, 3}, 0.25);
  CHECK_THROWS_WITH_AS(sampler.run(e, x, 10, rng),
                       doctest::Contains("chain 2 produced a non-finite value (NaN or Inf) in the state at step 4 of 10"),
                       ebm::error);
  poisoned_energy bad_energy;
  bad_energy.poison_energy = true;
  bad_energy.poison_chain = 3;
  bad_energy.poison_call = 6;
  x.fill(0.25);
  CHECK_THROWS_WITH_AS(sampler.run(bad_energy, x, 10, rng),
                       doctest::Contains("chain 3 has a non-finite energy (nan) at step 6 of 10"), ebm::error);
}

TEST_CASE("langevin: the gradient-norm guard bounds every move; clamp keeps the range") {
  // E = |x|^2 / (2 * 0.01^2): gradients of norm ~1e4 |x|.  With no noise, a clipped step
  // moves each sample by exactly (s/2) * c along -grad E.
  auto target = gaussian<double>::isotropic(3, 0.01);
  langevin sampler{schedule::constant(0.2), schedule::constant(0.0)};
  sampler.clip_grad_norm(1.0);
  philox rng(3);
  tensor<double> x(shape{6, 3});
  rng.fill_uniform(x.span(), 0.5, 1.0);
  const tensor<double> before = x;
  const chain_stats st = sampler.run(target, x, 1, rng);
  CHECK(st.clipped == 6);
  for (index_t i = 0; i < 6; ++i) {
    double d2 = 0, b2 = 0, dot = 0;
    for (index_t j = 0; j < 3; ++j) {
      const double d = x(i, j) - before(i, j);
      d2 += d * d;
      b2 += before(i, j) * before(i, j);
      dot += d * before(i, j);
    }
    CHECK(std::sqrt(d2) == doctest::Approx(0.1).epsilon(1e-12));
    CHECK(dot / std::sqrt(d2 * b2) == doctest::Approx(-1.0).epsilon(1e-12));  // straight downhill
  }
  auto noisy = unadjusted_langevin(4.0);
  noisy.clamp(-1, 1);
  auto wide = gaussian<double>::isotropic(3, 10.0);
  noisy.run(wide, x, 20, rng);
  for (double v : x) CHECK((v >= -1 && v <= 1));
}

TEST_CASE("langevin: bad arguments are refused with a message") {
  auto target = gaussian<double>::isotropic(2);
  philox rng(1);
  tensor<double> x(shape{3, 2});
  langevin sampler{schedule::constant(-0.1), schedule::constant(0.1)};
  CHECK_THROWS_WITH_AS(sampler.run(target, x, 2, rng), doctest::Contains("non-negative"), ebm::error);
  auto ok = unadjusted_langevin(0.1);
  CHECK_THROWS_AS(ok.clamp(1, -1), ebm::error);
  CHECK_THROWS_AS(ok.clip_grad_norm(0), ebm::error);
  tensor<double> wrong(shape{3, 4});
  CHECK_THROWS_WITH_AS(ok.run(target, wrong, 1, rng), doctest::Contains("expected a batch [N, 2]"), ebm::error);
}

namespace {
// An isotropic Gaussian that names a device, as networks do: the sampler's
// own loops (noise and update) then run on that device's pool.
struct gaussian_on_device {
  using value_type = double;
  using device_type = cpu;
  cpu dev;
  tensor<double> e;
  cpu device() const { return dev; }
  const tensor<double>& energy(const tensor<double>& x) {
    half_squares(x, e);
    return e;
  }
  const tensor<double>& energy_and_grad(const tensor<double>& x, tensor<double>& g) {
    g = x;
    return energy(x);
  }
};
}  // namespace

TEST_CASE("langevin: chains split over threads follow the serial update with one fill_normal per step, bit for bit") {
  // 64 chains of 1024 entries: the update splits into chunks of chains on a
  // pool of 1, 3 or 4 threads.
  const double s = 0.1, eta = 0.05;
  langevin sampler{schedule::constant(s), schedule::constant(eta)};
  sampler.clamp(-2, 2);
  tensor<double> start(shape{64, 1024});
  philox init(17);
  init.fill_uniform(start.span(), -2.0, 2.0);

  // The definition, serially: x <- clamp(x - (s/2) x + sqrt(eta) z).
  tensor<double> ref = start;
  philox rr(23);
  std::vector<double> z(static_cast<std::size_t>(ref.size()));
  for (int t = 0; t < 3; ++t) {
    rr.fill_normal<double>(z);
    for (index_t i = 0; i < ref.size(); ++i)
      ref[i] = std::clamp(ref[i] - (s / 2) * ref[i] + std::sqrt(eta) * z[std::size_t(i)], -2.0, 2.0);
  }
  for (int threads : {1, 3, 4}) {
    CAPTURE(threads);
    gaussian_on_device target{cpu(threads), {}};
    tensor<double> x = start;
    philox rng(23);
    sampler.run(target, x, 3, rng);
    CHECK(rng.offset() == rr.offset());
    CHECK(std::memcmp(x.data(), ref.data(), sizeof(double) * x.size()) == 0);
  }
}
