#include <doctest/doctest.h>

#include <ebm/energy/gaussian.hpp>
#include <ebm/sample/langevin.hpp>
#include <ebm/sample/schedules.hpp>

using namespace ebm;

namespace {
// E = 0: the gradient is zero, so a Langevin step only adds noise.
struct flat_energy {
  using value_type = double;
  using device_type = cpu;
  tensor<double> e;
  const tensor<double>& energy(const tensor<double>& x) { return e = tensor<double>(shape{x.extent(0)}); }
  const tensor<double>& energy_and_grad(const tensor<double>& x, tensor<double>& g) {
    g = tensor<double>(x.shape());
    return energy(x);
  }
};
}  // namespace

TEST_CASE("schedules: values at the first and last steps") {
  const schedule::constant c(0.3);
  CHECK(c(0, 10) == 0.3);
  CHECK(c(9, 10) == 0.3);

  const schedule::linear_decay lin(2e-2);
  CHECK(lin(0, 5) == doctest::Approx(2e-2));
  CHECK(lin(2, 5) == doctest::Approx(1e-2));
  CHECK(lin(4, 5) == 0.0);
  CHECK(lin(0, 1) == doctest::Approx(2e-2));

  // CF-EBM appendix A.2: eta_t = 2e-2 - 2e-2 / (T - t + 1), t = 1..T (ours: t + 1).
  const schedule::cf_ebm_decay cf(2e-2);
  const int T = 60;
  for (int t = 0; t < T; ++t) {
    const int paper_t = t + 1;
    CHECK(cf(t, T) == doctest::Approx(2e-2 - 2e-2 / (T - paper_t + 1)));
  }
  CHECK(cf(T - 1, T) == 0.0);
  CHECK(cf(0, T) == doctest::Approx(2e-2 * (1 - 1.0 / 60)));

  const schedule::geometric g(1.0, 1e-2);
  CHECK(g(0, 3) == doctest::Approx(1.0));
  CHECK(g(1, 3) == doctest::Approx(0.1));
  CHECK(g(2, 3) == doctest::Approx(1e-2));
  CHECK_THROWS_AS(schedule::geometric(0.0, 1.0), ebm::error);

  static_assert(step_schedule<schedule::cf_ebm_decay<float>, float>);
  static_assert(step_schedule<decltype([](int t, int) { return 1.0f / float(t + 1); }), float>);
}

TEST_CASE("langevin with the CF-EBM schedule: the last step adds no noise") {
  // On a flat energy (gradient zero) a step only adds noise: with eta = 0 at the final
  // step, a one-step chain leaves x unchanged, and a chain's last step adds nothing.
  flat_energy energy;
  auto sampler = cf_ebm_langevin<double>();
  philox rng(1);
  tensor<double> x(shape{4, 3}, 0.5);
  sampler.run(energy, x, 1, rng);
  for (double v : x) CHECK(v == 0.5);
  // A user-defined schedule (any callable) works too.
  langevin custom{schedule::constant(1.0), [](int t, int) { return t == 0 ? 1.0 : 0.0; }};
  static_assert(std::same_as<decltype(custom)::value_type, double>);
  sampler.run(energy, x, 5, rng);
  const tensor<double> before = x;
  langevin<double, schedule::constant<double>, schedule::linear_decay<double>> last_free{
      schedule::constant(1.0), schedule::linear_decay(0.1)};
  last_free.step(energy, x, 4, 5, rng);
  for (index_t i = 0; i < x.size(); ++i) CHECK(x[i] == before[i]);
}
