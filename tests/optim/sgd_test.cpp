#include <doctest/doctest.h>

#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include <ebm/ebm.hpp>

using namespace ebm;

TEST_CASE("sgd: plain, momentum and Nesterov steps by hand") {
  tensor<double> w(shape{1}), g(shape{1});
  std::vector<param_ref<double>> refs{{"w", &w, &g}};
  const double g1 = 0.5, g2 = -0.25, lr = 0.1, mu = 0.9, wd = 0.01;

  w[0] = 1;
  optim::sgd<double> plain(refs, {.lr = lr, .weight_decay = wd});
  g[0] = g1, plain.step();
  CHECK(w[0] == doctest::Approx(1 - lr * (g1 + wd * 1)));

  w[0] = 1;
  optim::sgd<double> heavy(refs, {.lr = lr, .momentum = mu});
  g[0] = g1, heavy.step();
  CHECK(w[0] == doctest::Approx(1 - lr * g1));
  g[0] = g2, heavy.step();
  CHECK(w[0] == doctest::Approx(1 - lr * g1 - lr * (mu * g1 + g2)));

  w[0] = 1;
  optim::sgd<double> nesterov(refs, {.lr = lr, .momentum = mu, .nesterov = true});
  g[0] = g1, nesterov.step();
  const double w1 = 1 - lr * (g1 + mu * g1);
  CHECK(w[0] == doctest::Approx(w1));
  g[0] = g2, nesterov.step();
  CHECK(w[0] == doctest::Approx(w1 - lr * (g2 + mu * (mu * g1 + g2))));
  CHECK(nesterov.step_count() == 2);

  std::map<std::string, double> state;
  nesterov.visit_state([&](std::string_view n, auto& x) {
    if constexpr (std::is_arithmetic_v<std::remove_cvref_t<decltype(x)>>) state[std::string(n)] = double(x);
    else state[std::string(n)] = x[0];
  });
  CHECK(state.size() == 2);
  CHECK(state.at("step") == 2);
  CHECK(state.at("momentum.w") == doctest::Approx(mu * g1 + g2));
  int plain_state = 0;
  plain.visit_state([&](std::string_view, auto&) { ++plain_state; });
  CHECK(plain_state == 1);  // the step counter only
  CHECK_THROWS_AS(optim::sgd<double>(refs, {.nesterov = true}), ebm::error);
}

TEST_CASE("sgd: converges on a quadratic, with and without momentum") {
  for (double mu : {0.0, 0.9}) {
    INFO("momentum " << mu);
    tensor<double> w(shape{3}), g(shape{3});
    std::vector<param_ref<double>> refs{{"w", &w, &g}};
    const double c[3] = {2, 1, 0.5}, t[3] = {1, -1, 2};
    optim::sgd<double> opt(refs, {.lr = 0.1, .momentum = mu, .nesterov = mu > 0});
    for (int k = 0; k < 500; ++k) {
      for (int i = 0; i < 3; ++i) g[i] = c[i] * (w[i] - t[i]);
      opt.step();
    }
    for (int i = 0; i < 3; ++i) CHECK(w[i] == doctest::Approx(t[i]).epsilon(1e-6));
  }
}
