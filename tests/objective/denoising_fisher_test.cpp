#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include <ebm/ebm.hpp>
#include <ebm/energy/network.hpp>

#include "finite_difference.hpp"
#include "mixture_truth.hpp"

using namespace ebm;
using objective::fisher_target;

namespace {

auto small_mlp() {
  nn::sequential net{nn::linear<double>(2, 8), nn::swish<double>{}, nn::linear<double>(8, 6),
                     nn::softplus<double>{}, nn::linear<double>(6, 1)};
  nn::initialize(net, 21);
  return net;
}

tensor<double> normal_batch(index_t n, index_t d, std::uint64_t seed) {
  tensor<double> x(shape{n, d});
  philox rng(seed);
  rng.fill_normal<double>(x.span());
  return x;
}

// The simplest time-conditioned energy: appends t/100 to every sample as an
// extra input feature of an inner block.  The time column is a constant of
// the input, so it gets no input gradient and no tangent.
template <class Inner>
class time_input {
 public:
  using value_type = double;
  using device_type = cpu;
  using tensor_type = tensor<double>;

  explicit time_input(Inner inner) : inner_(std::move(inner)) {}

  void set_time(const tensor_type& t) {
    t_ = &t;
    ++set_time_calls;
  }
  int set_time_calls = 0;

  template <class F>
  void visit_params(F&& f) {
    ebm::visit_params(inner_, f);
  }

  const tensor_type& forward(const tensor_type& x) {
    REQUIRE(t_ != nullptr);
    REQUIRE(t_->size() == x.extent(0));
    n_ = x.extent(0), d_ = x.shape().sample_size();
    xa_.resize(shape{n_, d_ + 1});
    for (index_t i = 0; i < n_; ++i) {
      for (index_t j = 0; j < d_; ++j) xa_(i, j) = x[i * d_ + j];
      xa_(i, d_) = (*t_)[i] / 100;
    }
    shape_ = x.shape();
    return inner_.forward(xa_);
  }
  const tensor_type& backward(const tensor_type& gy, grad g = grad::input) {
    return drop_time_column(inner_.backward(gy, g), g, gx_);
  }
  const tensor_type& forward_tangent(const tensor_type& dx) {
    dxa_.resize(shape{n_, d_ + 1});
    for (index_t i = 0; i < n_; ++i) {
      for (index_t j = 0; j < d_; ++j) dxa_(i, j) = dx[i * d_ + j];
      dxa_(i, d_) = 0;
    }
    return inner_.forward_tangent(dxa_);
  }
  const tensor_type& backward_tangent(const tensor_type& dgy, grad g = grad::input) {
    return drop_time_column(inner_.backward_tangent(dgy, g), g, dgx_);
  }

 private:
  const tensor_type& drop_time_column(const tensor_type& ga, grad g, tensor_type& out) {
    if (!wants_input(g)) return out;
    out.resize(shape_);
    for (index_t i = 0; i < n_; ++i)
      for (index_t j = 0; j < d_; ++j) out[i * d_ + j] = ga(i, j);
    return out;
  }
  Inner inner_;
  const tensor_type* t_ = nullptr;
  index_t n_ = 0, d_ = 0;
  shape shape_;
  tensor_type xa_, dxa_, gx_, dgx_;
};

}  // namespace

TEST_CASE("denoising_fisher: x_t and the loss of a linear energy by hand") {
  // E(x) = w.x + b has the constant input gradient w.
  nn::linear<double> net(2, 1);
  net.weight()[0] = 0.5, net.weight()[1] = -1.5, net.bias()[0] = 0.25;
  const auto schedule = noise_schedule::cosine(100);
  const tensor<double> x0 = normal_batch(3, 2, 1), eps = normal_batch(3, 2, 2);
  const std::vector<int> t = {0, 40, 99};
  for (auto target : {fisher_target::score, fisher_target::noise, fisher_target::noise_unscaled}) {
    objective::denoising_fisher<double> fisher(schedule, target);
    const double loss = fisher.evaluate(net, x0, t, eps);
    double expected = 0;
    for (int i = 0; i < 3; ++i) {
      const double sigma = schedule.sigma(t[i]);
      const double a = target == fisher_target::noise ? sigma : 1.0;
      const double b = target == fisher_target::score ? 1 / sigma : 1.0;
      for (int j = 0; j < 2; ++j) {
        const double r = a * net.weight()[j] - b * eps[i * 2 + j];
        expected += 0.5 * r * r / 3;
        CHECK(fisher.noised()[i * 2 + j] ==
              doctest::Approx(schedule.sqrt_alpha_bar(t[i]) * x0[i * 2 + j] + sigma * eps[i * 2 + j]));
      }
      CHECK(fisher.timesteps()[i] == t[i]);
    }
    CHECK(loss == doctest::Approx(expected));
  }
}

TEST_CASE("denoising_fisher: the parameter gradient (second derivatives) matches finite differences") {
  const auto schedule = noise_schedule::linear(200);
  const tensor<double> x0 = normal_batch(6, 2, 3), eps = normal_batch(6, 2, 4);
  const std::vector<int> t = {0, 7, 50, 120, 180, 199};
  for (auto target : {fisher_target::score, fisher_target::noise, fisher_target::noise_unscaled}) {
    for (double weight : {1.0, 0.37}) {
      INFO("target " << int(target) << ", weight " << weight);
      auto net = small_mlp();
      objective::denoising_fisher<double> fisher(schedule, target);
      using Net = decltype(net);
      auto err = test::compare_with_finite_differences<Net>(
          net, [&](Net& n) { fisher(n, x0, t, eps, weight); },
          [&](Net& n) { return weight * fisher.evaluate(n, x0, t, eps); });
      INFO(err.worst);
      CHECK(err.scale > 1e-3);
      CHECK(err.max_relative < 1e-6);
    }
  }
}

TEST_CASE("denoising_fisher: time-conditioned networks receive t before forward; gradient stays exact") {
  const auto schedule = noise_schedule::cosine(100);
  time_input net(nn::sequential{nn::linear<double>(3, 8), nn::swish<double>{}, nn::linear<double>(8, 8),
                                nn::gelu<double>{}, nn::linear<double>(8, 1)});
  static_assert(time_conditioned<decltype(net)>);
  static_assert(!time_conditioned<nn::linear<double>>);
  objective::denoising_fisher<double> fisher(schedule);
  int hook_calls = 0;
  fisher.on_time([&](const tensor<double>& t) {
    ++hook_calls;
    CHECK(t.size() == 5);
  });
  const tensor<double> x0 = normal_batch(5, 2, 5), eps = normal_batch(5, 2, 6);
  const std::vector<int> t = {3, 10, 30, 60, 95};
  using Net = decltype(net);
  auto err = test::compare_with_finite_differences<Net>(
      net, [&](Net& n) { fisher(n, x0, t, eps); }, [&](Net& n) { return fisher.evaluate(n, x0, t, eps); });
  INFO(err.worst);
  CHECK(err.max_relative < 1e-6);
  CHECK(net.set_time_calls == hook_calls);
  CHECK(hook_calls > 1);

  // The time input matters: the same x_t at other timesteps has another loss.
  const std::vector<int> t2 = {4, 10, 30, 60, 95};
  CHECK(fisher.evaluate(net, x0, t, eps) != fisher.evaluate(net, x0, t2, eps));
}

TEST_CASE("denoising_fisher: random timesteps stay in the range; a seed reproduces the loss") {
  auto net = small_mlp();
  objective::denoising_fisher<double> fisher(noise_schedule::linear(1000));
  fisher.set_timestep_range(20, 30);
  const tensor<double> x0 = normal_batch(64, 2, 7);
  philox a(42), b(42);
  const double la = fisher.evaluate(net, x0, a);
  for (double t : fisher.timesteps()) {
    CHECK(t >= 20);
    CHECK(t <= 30);
  }
  CHECK(fisher.evaluate(net, x0, b) == la);
  CHECK_THROWS_AS(fisher.set_timestep_range(5, 1000), ebm::error);
  const std::vector<int> bad = {0, 1000};
  const tensor<double> x2 = normal_batch(2, 2, 8);
  CHECK_THROWS_WITH_AS(fisher.evaluate(net, x2, bad, x2), doctest::Contains("outside the schedule"),
                       ebm::error);
}

// Proof of learning: denoising score matching at one small noise level
// (sigma = 0.11) recovers the score of the noised mixture, which is known in
// closed form: every component N(mu, s^2 I) becomes N(sqrt(abar) mu,
// (abar s^2 + sigma^2) I).  Measured as the relative L2 error of -grad E
// against that score on samples of x_t.
TEST_CASE("denoising_fisher: an MLP energy learns the score of a noised 2-D mixture") {
  using T = float;
  test::mixture truth = test::four_blobs();
  const auto schedule = noise_schedule::linear(1000);
  const int t = 30;
  test::mixture noised = test::noised(truth, schedule.sqrt_alpha_bar(t), schedule.sigma(t));
  nn::sequential net{nn::linear<T>(2, 64), nn::swish<T>{}, nn::linear<T>(64, 64), nn::swish<T>{},
                     nn::linear<T>(64, 1)};
  nn::initialize(net, 3);

  philox eval_rng(99);
  const tensor<double> xe = noised.sample(4000, eval_rng);
  const tensor<T> xe_t = tensor_cast<T>(xe);
  tensor<double> score;
  noised.score(xe, score);
  auto score_error = [&] {
    tensor<T> g;
    energy_of(net).energy_and_grad(xe_t, g);
    double num = 0, den = 0;
    for (index_t i = 0; i < xe.size(); ++i) {
      const double e = -double(g[i]) - score[i];
      num += e * e;
      den += score[i] * score[i];
    }
    return std::sqrt(num / den);
  };
  const double err0 = score_error();

  objective::denoising_fisher<T> fisher(schedule, fisher_target::noise);
  fisher.set_timestep_range(t, t);
  const int iterations = 4000;
  const double lr = 3e-3;
  optim::adam<T> opt(collect_params(net), {.lr = lr});
  philox rng(5);
  tensor<T> data;
  for (int it = 0; it < iterations; ++it) {
    data = tensor_cast<T>(truth.sample(512, rng));
    zero_grad(net);
    fisher(net, data, rng);
    opt.set_lr(lr * (1 - double(it) / iterations));
    opt.step();
  }
  const double err = score_error();
  std::printf("denoising Fisher on a 2-D mixture (sigma = %.3f): relative score error %.4f at start, "
              "%.4f after %d steps\n", schedule.sigma(t), err0, err, iterations);
  CHECK(err0 > 0.9);
  CHECK(err < 0.1);
}
