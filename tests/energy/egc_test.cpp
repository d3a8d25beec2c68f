#include <doctest/doctest.h>

#include <ebm/energy/egc_model.hpp>
#include <ebm/objective/egc.hpp>
#include <ebm/testing/derivative_check.hpp>

#include "../objective/finite_difference.hpp"
#include "egc_tiny.hpp"

using namespace ebm;

namespace {
using ebm::test_configs::tiny;
tensor<double> times(std::initializer_list<double> ts) {
  tensor<double> t(shape{static_cast<index_t>(ts.size())});
  index_t i = 0;
  for (double v : ts) t[i++] = v;
  return t;
}
}  // namespace

TEST_CASE("egc network: shapes of the per-pixel logits, energies and class logits") {
  for (bool unet : {true, false}) {
    egc::model<float> m(tiny(unet));
    tensor<float> x(shape{2, 1, 8, 8});
    philox rng(1);
    rng.fill_normal<float>(x.span());
    m.set_time(2, 5);
    const auto& e = m.forward(x);
    CHECK(e.shape() == shape{2, 1});
    CHECK(m.pixel_logits().shape() == (unet ? shape{2, 3, 8, 8} : shape{2, 3, 4, 4}));
    CHECK(m.logits().shape() == shape{2, 3});
  }
}

TEST_CASE("egc network: the whole energy passes the derivative checker (UNet, ResNet, label input)") {
  struct variant {
    bool unet, labels;
  };
  for (variant v : {variant{true, false}, variant{false, false}, variant{true, true}}) {
    INFO("unet = " << v.unet << ", label input = " << v.labels);
    egc::model<double> m(tiny(v.unet, v.labels));
    const auto t = times({3, 40});
    m.set_time(t);
    const std::vector<int> labels{2, -1};
    if (v.labels) m.set_labels(labels);
    testing::check_options opt;
    opt.param_noise = 0.1;
    opt.coordinates = 12;
    opt.tolerance = 2e-5;
    auto r = testing::check_derivatives(m, shape{2, 1, 8, 8}, opt);
    INFO(r.str());
    CHECK(r.ok());
  }
}

TEST_CASE("egc network: time and labels change the energy; errors name what is missing") {
  egc::model<double> m(tiny(true, true));
  tensor<double> x(shape{1, 1, 8, 8});
  philox rng(3);
  rng.fill_normal<double>(x.span());
  CHECK_THROWS_WITH_AS(m.forward(x), doctest::Contains("set_time"), ebm::error);
  m.set_time(1, 0);
  const double e0 = m.forward(x)[0];
  m.set_time(1, 500);
  const double e1 = m.forward(x)[0];
  CHECK(e0 != e1);
  const std::vector<int> y{1};
  m.set_labels(y);
  CHECK(m.forward(x)[0] != e1);
  tensor<double> bad(shape{1, 1, 6, 6});
  CHECK_THROWS_WITH_AS(m.forward(bad), doctest::Contains("expected input [N, 1, 8, 8]"), ebm::error);
  egc::config c = tiny(true);
  c.groups = 3;
  CHECK_THROWS_WITH_AS(egc::model<double>{c}, doctest::Contains("groups"), ebm::error);
}

TEST_CASE("egc classifier: input gradient of the pooled logits matches finite differences") {
  egc::model<double> m(tiny(true));
  tensor<double> x(shape{2, 1, 8, 8}), gz(shape{2, 3});
  philox rng(5);
  rng.fill_normal<double>(x.span());
  rng.fill_normal<double>(gz.span());
  auto f = [&](const tensor<double>& xx) {
    const auto& z = m.classify(xx, 7);
    double s = 0;
    for (index_t i = 0; i < z.size(); ++i) s += gz[i] * z[i];
    return s;
  };
  f(x);
  const tensor<double> gx = m.logits_backward(gz, grad::input);
  const double h = 1e-5;
  for (index_t i = 0; i < x.size(); i += 7) {
    tensor<double> xp(x), xm(x);
    xp[i] += h, xm[i] -= h;
    const double fd = (f(xp) - f(xm)) / (2 * h);
    CHECK(gx[i] == doctest::Approx(fd).epsilon(1e-6).scale(1e-3));
  }
}

TEST_CASE("egc objective: exact gradient of Fisher + cross-entropy through the whole UNet") {
  // Every parameter coordinate is differenced: the narrowest network that
  // still has every kind of block (width change, skips, both levels).  The
  // last variant importance-weights the Fisher terms (low_t_fraction: t = 4
  // is a low draw, 50 and 97 are not).
  struct variant {
    objective::fisher_target target;
    double low_t;
  };
  for (variant v : {variant{objective::fisher_target::noise_unscaled, 0.0},
                    variant{objective::fisher_target::noise, 0.0},
                    variant{objective::fisher_target::noise_unscaled, 0.5}}) {
    const auto target = v.target;
    INFO("target " << int(target) << ", low_t_fraction " << v.low_t);
    egc::config c = tiny(target == objective::fisher_target::noise_unscaled);
    c.channels = 2;
    c.groups = 1;
    egc::model<double> m(c);
    nn::initialize(m, 11);
    objective::egc_options opt;
    opt.target = target;
    opt.gamma = 0.5;  // large enough that the classification part shows in the check
    opt.low_t_fraction = v.low_t;
    opt.low_t_steps = 10;
    objective::egc_loss<double> loss(noise_schedule::linear(100), opt);
    tensor<double> x0(shape{3, 1, 8, 8}), eps(shape{3, 1, 8, 8});
    philox rng(7);
    rng.fill_uniform<double>(x0.span(), -1, 1);
    rng.fill_normal<double>(eps.span());
    const std::vector<int> labels{0, objective::egc_loss<double>::null_label, 2};
    const std::vector<int> t{4, 50, 97};
    auto err = test::compare_with_finite_differences<egc::model<double>>(
        m, [&](egc::model<double>& net) { loss(net, x0, labels, t, eps); },
        [&](egc::model<double>& net) { return double(loss(net, x0, labels, t, eps, 1.0, false)); });
    INFO("worst: " << err.worst << ", scale " << err.scale);
    CHECK(err.max_relative < 1e-5);
    CHECK(loss.cross_entropy() > 0);
  }
}

TEST_CASE("egc objective: unsupervised loss is the Fisher term alone; label errors are clear") {
  egc::model<double> m(tiny(false));
  objective::egc_loss<double> loss(noise_schedule::linear(50));
  tensor<double> x0(shape{2, 1, 8, 8}), eps(shape{2, 1, 8, 8});
  philox rng(9);
  rng.fill_normal<double>(eps.span());
  const std::vector<int> t{1, 30};
  const double l = loss(m, x0, {}, t, eps, 1.0, false);
  CHECK(l == doctest::Approx(loss.fisher()));
  CHECK(loss.cross_entropy() == 0);
  const std::vector<int> bad{0, 3};
  CHECK_THROWS_WITH_AS(loss(m, x0, bad, t, eps, 1.0, false), doctest::Contains("label 3"), ebm::error);
  const std::vector<int> one{0};
  CHECK_THROWS_WITH_AS(loss(m, x0, one, t, eps), doctest::Contains("1 labels for a batch of 2"), ebm::error);
}

TEST_CASE("egc objective: low-noise timestep draws, with the Fisher term importance-weighted back to uniform t") {
  const int steps = 100;
  objective::egc_options opt;
  opt.low_t_fraction = 0.5;
  opt.low_t_steps = 10;
  objective::egc_loss<double> loss(noise_schedule::linear(steps), opt);

  // p_drawn(t) · w(t) = 1/T at every t: the weighted Fisher term's expectation
  // is the uniform-t one.
  for (int t = 0; t < steps; ++t) {
    const double p =
        (1 - opt.low_t_fraction) / steps + (t < opt.low_t_steps ? opt.low_t_fraction / opt.low_t_steps : 0);
    CHECK(p * loss.fisher_weight(t) == doctest::Approx(1.0 / steps));
  }

  egc::model<double> m(tiny(true));
  nn::initialize(m, 3);
  tensor<double> x0(shape{64, 1, 8, 8});
  philox data(5);
  data.fill_uniform<double>(x0.span(), -1, 1);

  SUBCASE("the share of low timesteps is p + (1 - p)·L/T") {
    philox rng(21);
    index_t low = 0, total = 0;
    for (int call = 0; call < 20; ++call) {
      loss(m, x0, {}, rng);
      const tensor<double>& t = loss.timesteps();
      for (index_t i = 0; i < t.size(); ++i) {
        CHECK(t[i] >= 0);
        CHECK(t[i] < steps);
        low += t[i] < opt.low_t_steps;
        ++total;
      }
    }
    // 1280 draws of a share 0.55: standard deviation 0.014, so ±0.05 is 3.6σ.
    CHECK(double(low) / double(total) == doctest::Approx(0.55).epsilon(0.05 / 0.55));
  }

  SUBCASE("with low_t_fraction = 0 the draws are the uniform ones, from the same random stream") {
    objective::egc_loss<double> plain(noise_schedule::linear(steps));
    philox rng(21), replay(21);
    plain(m, x0, {}, rng);
    for (index_t i = 0; i < 64; ++i) CHECK(plain.timesteps()[i] == double(replay.uniform_int(steps)));
  }

  SUBCASE("the batch's Fisher term is the weighted mean of the per-sample ones") {
    tensor<double> two(shape{2, 1, 8, 8}), eps(shape{2, 1, 8, 8});
    philox rng(8);
    rng.fill_uniform<double>(two.span(), -1, 1);
    rng.fill_normal<double>(eps.span());
    const std::vector<int> t{3, 60};  // one low, one high
    objective::egc_loss<double> plain(noise_schedule::linear(steps));
    double f[2];
    for (index_t i = 0; i < 2; ++i) {
      tensor<double> xi(shape{1, 1, 8, 8}), ei(shape{1, 1, 8, 8});
      std::copy_n(two.data() + i * 64, 64, xi.data());
      std::copy_n(eps.data() + i * 64, 64, ei.data());
      const std::vector<int> ti{t[static_cast<std::size_t>(i)]};
      plain(m, xi, {}, ti, ei, 1.0, false);
      f[i] = plain.fisher();
    }
    const double l = loss(m, two, {}, t, eps, 1.0, false);
    CHECK(loss.fisher_weight(3) == doctest::Approx(1 / 5.5));
    CHECK(loss.fisher_weight(60) == doctest::Approx(2.0));
    CHECK(l == doctest::Approx((f[0] / 5.5 + 2 * f[1]) / 2).epsilon(1e-12));
  }

  SUBCASE("bad settings are named") {
    objective::egc_options bad;
    bad.low_t_fraction = 1;
    CHECK_THROWS_WITH_AS(objective::egc_loss<double>(noise_schedule::linear(steps), bad),
                         doctest::Contains("low_t_fraction must be in [0, 1)"), ebm::error);
    bad.low_t_fraction = 0.5;
    bad.low_t_steps = 101;
    CHECK_THROWS_WITH_AS(objective::egc_loss<double>(noise_schedule::linear(steps), bad),
                         doctest::Contains("low_t_steps must be in [1, 100]"), ebm::error);
  }
}
