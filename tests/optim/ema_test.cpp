#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <ebm/ebm.hpp>

using namespace ebm;

TEST_CASE("ema: the average follows d·avg + (1 − d)·w from a copy of the initial weights") {
  tensor<double> w(shape{2}), g(shape{2});
  std::vector<param_ref<double>> refs{{"w", &w, &g}};
  w[0] = 1, w[1] = -1;
  optim::ema<double> avg(refs, 0.9);
  w[0] = 2, w[1] = 0;
  avg.update();
  CHECK(avg.average(0)[0] == doctest::Approx(0.9 * 1 + 0.1 * 2));
  CHECK(avg.average(0)[1] == doctest::Approx(0.9 * -1 + 0.1 * 0));
  w[0] = 3;
  avg.update();
  CHECK(avg.average(0)[0] == doctest::Approx(0.9 * 1.1 + 0.1 * 3));
  CHECK(avg.update_count() == 2);

  // After many updates at a fixed w the average converges to w.
  for (int k = 0; k < 400; ++k) avg.update();
  CHECK(avg.average(0)[0] == doctest::Approx(3.0).epsilon(1e-12));
}

TEST_CASE("ema: warm-up uses min(decay, (1 + k) / (10 + k))") {
  tensor<double> w(shape{1}, 0.0), g(shape{1});
  std::vector<param_ref<double>> refs{{"w", &w, &g}};
  optim::ema<double> avg(refs, 0.999, true);
  CHECK(avg.current_decay() == doctest::Approx(0.1));
  w[0] = 10;
  avg.update();  // 0.1 · 0 + 0.9 · 10
  CHECK(avg.average(0)[0] == doctest::Approx(9.0));
  CHECK(avg.current_decay() == doctest::Approx(2.0 / 11));
  avg.set_update_count(1'000'000);
  CHECK(avg.current_decay() == doctest::Approx(0.999));
}

TEST_CASE("ema: swapping puts the averages into the network and back") {
  nn::linear<double> net(2, 1);
  auto params = collect_params(net);
  optim::ema<double> avg(params, 0.5);
  const tensor<double> initial(net.weight());
  for (double& v : net.weight()) v += 1;
  avg.update();  // average = initial + 0.5
  const tensor<double> live(net.weight());
  {
    auto scope = avg.swapped();
    CHECK(avg.is_swapped());
    for (index_t i = 0; i < live.size(); ++i) CHECK(net.weight()[i] == doctest::Approx(initial[i] + 0.5));
    CHECK_THROWS_AS(avg.update(), ebm::error);
  }
  CHECK_FALSE(avg.is_swapped());
  for (index_t i = 0; i < live.size(); ++i) CHECK(net.weight()[i] == live[i]);

  std::vector<std::string> names;
  avg.visit_state([&](std::string_view n, auto&) { names.emplace_back(n); });
  CHECK(names == std::vector<std::string>{"updates", "ema.weight", "ema.bias"});

  avg.copy_to_params();
  for (index_t i = 0; i < live.size(); ++i) CHECK(net.weight()[i] == doctest::Approx(initial[i] + 0.5));
}
