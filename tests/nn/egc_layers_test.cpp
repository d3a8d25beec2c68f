#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <ebm/ebm.hpp>
#include <ebm/testing/derivative_check.hpp>

using namespace ebm;
using ebm::testing::check_derivatives;

namespace {
tensor<double> random_tensor(const shape& s, std::uint64_t seed) {
  philox rng(seed, 5);
  tensor<double> t(s);
  rng.fill_normal<double>(t.span());
  return t;
}
}  // namespace

// ------------------------------------------------------------ group_norm --

TEST_CASE("group_norm: zero mean and unit variance per group, then weight and bias") {
  nn::group_norm<double> gn(4, 2, 0.0);  // eps = 0: exactly unit variance
  static_assert(differentiable_block<nn::group_norm<double>>);
  const tensor<double> x = random_tensor(shape{2, 4, 3, 3}, 1);
  const tensor<double> y(gn.forward(x));
  REQUIRE(y.shape() == x.shape());
  const index_t m = 2 * 9;  // 2 channels per group, 9 positions
  for (index_t k = 0; k < 2 * 2; ++k) {
    double mean = 0, var = 0;
    for (index_t i = 0; i < m; ++i) mean += y[k * m + i];
    mean /= m;
    for (index_t i = 0; i < m; ++i) var += (y[k * m + i] - mean) * (y[k * m + i] - mean);
    var /= m;
    CHECK(mean == doctest::Approx(0).epsilon(1e-12));
    CHECK(var == doctest::Approx(1).epsilon(1e-12));
  }
  // y = w_c xh + b_c.
  for (index_t c = 0; c < 4; ++c) gn.weight()[c] = c + 1, gn.bias()[c] = -c;
  const tensor<double>& y2 = gn.forward(x);
  for (index_t n = 0; n < 2; ++n)
    for (index_t c = 0; c < 4; ++c)
      for (index_t i = 0; i < 3; ++i)
        CHECK(y2(n, c, i, 1) == doctest::Approx((c + 1) * y(n, c, i, 1) - c));
  // init() (and nn::initialize) resets weight 1, bias 0.
  nn::initialize(gn, 3);
  for (index_t c = 0; c < 4; ++c) {
    CHECK(gn.weight()[c] == 1);
    CHECK(gn.bias()[c] == 0);
  }
  auto params = collect_params(gn);
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "weight");
  CHECK(params[1].name == "bias");
}

TEST_CASE("group_norm: [N, C] input normalises over the channels of each group") {
  nn::group_norm<double> gn(4, 2, 0.0);
  tensor<double> x(shape{1, 4});
  x[0] = 1, x[1] = 3, x[2] = -2, x[3] = 6;
  const auto& y = gn.forward(x);
  CHECK(y[0] == doctest::Approx(-1));
  CHECK(y[1] == doctest::Approx(1));
  CHECK(y[2] == doctest::Approx(-1));
  CHECK(y[3] == doctest::Approx(1));
}

TEST_CASE("group_norm: the derivative contract") {
  {
    nn::group_norm<double> gn(4, 2);
    auto r = check_derivatives(gn, shape{2, 4, 3, 3});
    INFO(r.str());
    CHECK(r.ok());
  }
  {
    nn::group_norm<double> gn(6, 3);
    auto r = check_derivatives(gn, shape{3, 6});
    INFO(r.str());
    CHECK(r.ok());
  }
  {  // one group (layer norm), rank 3
    nn::group_norm<double> gn(3, 1);
    auto r = check_derivatives(gn, shape{2, 3, 5});
    INFO(r.str());
    CHECK(r.ok());
  }
  {  // one channel per group (instance norm)
    nn::group_norm<double> gn(3, 3);
    auto r = check_derivatives(gn, shape{2, 3, 2, 4});
    INFO(r.str());
    CHECK(r.ok());
  }
}

TEST_CASE("group_norm: bad arguments and shapes are reported with what was expected") {
  CHECK_THROWS_WITH_AS(nn::group_norm<float>(6, 4), doctest::Contains("multiple of groups"), ebm::error);
  CHECK_THROWS_AS(nn::group_norm<float>(0, 1), ebm::error);
  nn::group_norm<float> gn(4, 2);
  tensor<float> x(shape{2, 3, 4, 4});
  CHECK_THROWS_WITH_AS(gn.forward(x), doctest::Contains("expected input [N, 4] or [N, 4, ...]"),
                       ebm::error);
  tensor<float> flat(shape{4});
  CHECK_THROWS_AS(gn.forward(flat), ebm::error);
  tensor<float> ok(shape{2, 4, 4, 4});
  gn.forward(ok);
  tensor<float> bad(shape{2, 4, 4, 3});
  CHECK_THROWS_WITH_AS(gn.backward(bad), doctest::Contains("expected [2, 4, 4, 4] but got [2, 4, 4, 3]"),
                       ebm::error);
  CHECK_THROWS_WITH_AS(gn.forward_tangent(bad), doctest::Contains("expected [2, 4, 4, 4]"), ebm::error);
}

// -------------------------------------------------------- attention_pool --

TEST_CASE("attention_pool: a spatially constant map pools to that constant") {
  nn::attention_pool<double> pool;
  static_assert(differentiable_block<nn::attention_pool<double>>);
  tensor<double> x(shape{2, 3, 4, 4});
  for (index_t n = 0; n < 2; ++n)
    for (index_t c = 0; c < 3; ++c)
      for (index_t i = 0; i < 16; ++i) x[(n * 3 + c) * 16 + i] = 0.5 * n - 1.5 * c + 0.25;
  const auto& z = pool.forward(x);
  REQUIRE(z.shape() == shape{2, 3});
  for (index_t n = 0; n < 2; ++n)
    for (index_t c = 0; c < 3; ++c) CHECK(z(n, c) == doctest::Approx(0.5 * n - 1.5 * c + 0.25));
  REQUIRE(pool.weights().shape() == shape{2, 16});
  for (double a : pool.weights()) CHECK(a == doctest::Approx(1.0 / 16));
}

TEST_CASE("attention_pool: hand-checked values") {
  // C = 1, S = 2: F = [1, 3], q = 2, e = [2, 6], a = softmax(e), z = a0 + 3 a1.
  nn::attention_pool<double> pool;
  tensor<double> x(shape{1, 1, 2});
  x[0] = 1, x[1] = 3;
  const auto& z = pool.forward(x);
  const double a1 = 1 / (1 + std::exp(-4.0)), a0 = 1 - a1;
  CHECK(pool.weights()[0] == doctest::Approx(a0));
  CHECK(pool.weights()[1] == doctest::Approx(a1));
  CHECK(z[0] == doctest::Approx(a0 + 3 * a1));
  // C = 2, S = 2: F = [[1, 0], [0, 2]] (rows are channels), q = [0.5, 1],
  // e = [0.5, 2] / sqrt(2).
  tensor<double> x2(shape{1, 2, 2});
  x2[0] = 1, x2[1] = 0, x2[2] = 0, x2[3] = 2;
  const auto& z2 = pool.forward(x2);
  const double e0 = 0.5 / std::sqrt(2.0), e1 = 2 / std::sqrt(2.0);
  const double b0 = std::exp(e0) / (std::exp(e0) + std::exp(e1)), b1 = 1 - b0;
  CHECK(z2[0] == doctest::Approx(b0));
  CHECK(z2[1] == doctest::Approx(2 * b1));
  // Large logits stay finite (max-subtracted softmax).
  tensor<double> big(shape{1, 1, 3});
  big[0] = 300, big[1] = -300, big[2] = 100;
  const auto& zb = pool.forward(big);
  CHECK(std::isfinite(zb[0]));
  CHECK(zb[0] == doctest::Approx(300));
  tensor<float> bigf(shape{1, 2, 3});
  for (index_t i = 0; i < 6; ++i) bigf[i] = float(100 * (i % 3) - 90);
  nn::attention_pool<float> poolf;
  for (float v : poolf.forward(bigf)) CHECK(std::isfinite(v));
}

TEST_CASE("attention_pool: the derivative contract") {
  for (shape s : {shape{2, 3, 4, 4}, shape{2, 5, 6}, shape{3, 4}}) {
    INFO(s);
    nn::attention_pool<double> pool;
    auto r = check_derivatives(pool, s);
    INFO(r.str());
    CHECK(r.ok());
  }
  // A peaked attention (larger features) still passes.
  nn::attention_pool<double> pool;
  tensor<double> x = random_tensor(shape{2, 3, 5}, 7);
  for (double& v : x) v *= 2.5;
  auto r = check_derivatives(pool, x);
  INFO(r.str());
  CHECK(r.ok());
}

TEST_CASE("attention_pool: bad shapes are reported with what was expected") {
  nn::attention_pool<float> pool;
  tensor<float> flat(shape{4});
  CHECK_THROWS_WITH_AS(pool.forward(flat), doctest::Contains("expected features [N, C, ...]"), ebm::error);
  tensor<float> empty_spatial(shape{2, 3, 0});
  CHECK_THROWS_AS(pool.forward(empty_spatial), ebm::error);
  tensor<float> x(shape{2, 3, 4});
  pool.forward(x);
  tensor<float> bad(shape{2, 4});
  CHECK_THROWS_WITH_AS(pool.backward(bad), doctest::Contains("expected [2, 3] but got [2, 4]"), ebm::error);
}

// ----------------------------------------------------------------- concat --

TEST_CASE("concat_channels / split_channels: values and round trip") {
  const tensor<double> a = random_tensor(shape{2, 3, 2, 2}, 1);
  const tensor<double> b = random_tensor(shape{2, 1, 2, 2}, 2);
  tensor<double> out;
  nn::concat_channels(a, b, out);
  REQUIRE(out.shape() == shape{2, 4, 2, 2});
  for (index_t n = 0; n < 2; ++n)
    for (index_t i = 0; i < 2; ++i)
      for (index_t j = 0; j < 2; ++j) {
        for (index_t c = 0; c < 3; ++c) CHECK(out(n, c, i, j) == a(n, c, i, j));
        CHECK(out(n, 3, i, j) == b(n, 0, i, j));
      }
  tensor<double> ga, gb;
  nn::split_channels(out, 3, ga, gb);
  REQUIRE(ga.shape() == a.shape());
  REQUIRE(gb.shape() == b.shape());
  for (index_t i = 0; i < a.size(); ++i) CHECK(ga[i] == a[i]);
  for (index_t i = 0; i < b.size(); ++i) CHECK(gb[i] == b[i]);
  // Adjointness: <concat(a, b), g> = <a, split(g).first> + <b, split(g).second>.
  const tensor<double> g = random_tensor(out.shape(), 3);
  nn::split_channels(g, 3, ga, gb);
  double lhs = 0, rhs = 0;
  for (index_t i = 0; i < g.size(); ++i) lhs += out[i] * g[i];
  for (index_t i = 0; i < a.size(); ++i) rhs += a[i] * ga[i];
  for (index_t i = 0; i < b.size(); ++i) rhs += b[i] * gb[i];
  CHECK(lhs == doctest::Approx(rhs));
  // [N, C] inputs.
  tensor<double> a2(shape{2, 1}, 1.0), b2(shape{2, 2}, 2.0), o2;
  nn::concat_channels(a2, b2, o2);
  REQUIRE(o2.shape() == shape{2, 3});
  CHECK(o2(1, 0) == 1);
  CHECK(o2(1, 2) == 2);
}

TEST_CASE("concat_channels / split_channels: bad shapes are reported with what was expected") {
  tensor<float> a(shape{2, 3, 4, 4}), b(shape{2, 1, 3, 3}), out;
  CHECK_THROWS_WITH_AS(nn::concat_channels(a, b, out),
                       doctest::Contains("expected the second as [2, 1, 4, 4] but got [2, 1, 3, 3]"),
                       ebm::error);
  tensor<float> c(shape{3, 2, 4, 4});
  CHECK_THROWS_WITH_AS(nn::concat_channels(a, c, out),
                       doctest::Contains("expected the second as [2, 2, 4, 4] but got [3, 2, 4, 4]"),
                       ebm::error);
  tensor<float> flat(shape{4});
  CHECK_THROWS_WITH_AS(nn::concat_channels(flat, a, out), doctest::Contains("rank >= 2"), ebm::error);
  tensor<float> ga, gb;
  CHECK_THROWS_WITH_AS(nn::split_channels(a, 4, ga, gb), doctest::Contains("in [0, 3]"), ebm::error);
}

TEST_CASE("concat: y = [A(x), B(x)], named parameters, the derivative contract") {
  nn::concat net{nn::conv2d<double>(2, 3, 3, 1, 1), nn::swish<double>{}};
  static_assert(differentiable_block<decltype(net)>);
  auto params = collect_params(net);
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "first.weight");
  CHECK(params[1].name == "first.bias");

  const tensor<double> x = random_tensor(shape{2, 2, 4, 4}, 4);
  const tensor<double> y(net.forward(x));
  REQUIRE(y.shape() == shape{2, 5, 4, 4});
  const tensor<double> ya(net.first().forward(x));
  const tensor<double> yb(net.second().forward(x));
  for (index_t n = 0; n < 2; ++n)
    for (index_t i = 0; i < 4; ++i) {
      for (index_t c = 0; c < 3; ++c) CHECK(y(n, c, i, 2) == ya(n, c, i, 2));
      for (index_t c = 0; c < 2; ++c) CHECK(y(n, 3 + c, i, 2) == yb(n, c, i, 2));
    }

  auto r = check_derivatives(net, shape{2, 2, 4, 4});
  INFO(r.str());
  CHECK(r.ok());

  // Nested, with parameters in both branches.
  nn::concat net2{nn::conv2d<double>(2, 1, 3, 1, 1),
                  nn::concat{nn::group_norm<double>(2, 1), nn::swish<double>{}}};
  auto p2 = collect_params(net2);
  REQUIRE(p2.size() == 4);
  CHECK(p2[2].name == "second.first.weight");
  CHECK(p2[3].name == "second.first.bias");
  r = check_derivatives(net2, shape{2, 2, 3, 3});
  INFO(r.str());
  CHECK(r.ok());
}

TEST_CASE("concat: branches with disagreeing outputs are reported") {
  nn::concat net{nn::conv2d<float>(2, 3, 3), nn::swish<float>{}};  // 4x4 -> 2x2 vs 4x4
  tensor<float> x(shape{1, 2, 4, 4});
  CHECK_THROWS_WITH_AS(net.forward(x), doctest::Contains("concat::forward"), ebm::error);
}

// ------------------------------------------------------------- embeddings --

TEST_CASE("sinusoidal_embedding: ADM's timestep embedding") {
  nn::sinusoidal_embedding<double> emb(6);
  tensor<double> t(shape{3});
  t[0] = 0, t[1] = 2, t[2] = 250;
  const auto& y = emb.forward(t);
  REQUIRE(y.shape() == shape{3, 6});
  for (index_t k = 0; k < 3; ++k) {
    CHECK(y(0, k) == 1);
    CHECK(y(0, 3 + k) == 0);
  }
  for (index_t n = 1; n < 3; ++n)
    for (index_t k = 0; k < 3; ++k) {
      const double freq = std::exp(-std::log(10000.0) * k / 3);
      CHECK(y(n, k) == doctest::Approx(std::cos(t[n] * freq)));
      CHECK(y(n, 3 + k) == doctest::Approx(std::sin(t[n] * freq)));
    }
  // freq_0 = 1, and another max_period.
  nn::sinusoidal_embedding<float> emb2(4, 100);
  tensor<float> t2(shape{1, 1}, 3.0f);
  const auto& y2 = emb2.forward(t2);
  CHECK(y2(0, 0) == doctest::Approx(std::cos(3.0)));
  CHECK(y2(0, 1) == doctest::Approx(std::cos(3.0 / 10)));
  CHECK(y2(0, 3) == doctest::Approx(std::sin(3.0 / 10)));

  CHECK_THROWS_WITH_AS(nn::sinusoidal_embedding<float>(5), doctest::Contains("even"), ebm::error);
  tensor<float> bad(shape{2, 3});
  CHECK_THROWS_WITH_AS(emb2.forward(bad), doctest::Contains("expected timesteps [N]"), ebm::error);
}

TEST_CASE("label_embedding: rows of the table, the null row for -1") {
  nn::label_embedding<double> emb(3, 4);
  REQUIRE(emb.weight().shape() == shape{4, 4});
  for (index_t i = 0; i < 16; ++i) emb.weight()[i] = double(i);
  const std::vector<int> labels{2, nn::label_embedding<double>::null, 0};
  const auto& y = emb.forward(labels);
  REQUIRE(y.shape() == shape{3, 4});
  for (index_t k = 0; k < 4; ++k) {
    CHECK(y(0, k) == 2 * 4 + k);
    CHECK(y(1, k) == 3 * 4 + k);
    CHECK(y(2, k) == k);
  }
  const std::vector<int> bad{0, 3};
  CHECK_THROWS_WITH_AS(emb.forward(bad), doctest::Contains("label 3 at index 1"), ebm::error);
  const std::vector<int> neg{-2};
  CHECK_THROWS_WITH_AS(emb.forward(neg), doctest::Contains("label -2 at index 0"), ebm::error);
  auto params = collect_params(emb);
  REQUIRE(params.size() == 1);
  CHECK(params[0].name == "weight");
}

TEST_CASE("label_embedding: N(0, 1) initialisation, reproducible from a seed") {
  nn::label_embedding<double> a(99, 100), b(99, 100);
  nn::initialize(a, 11);
  nn::initialize(b, 11);
  double mean = 0, var = 0;
  for (index_t i = 0; i < a.weight().size(); ++i) {
    CHECK(a.weight()[i] == b.weight()[i]);
    mean += a.weight()[i];
  }
  mean /= a.weight().size();
  for (double v : a.weight()) var += (v - mean) * (v - mean);
  var /= a.weight().size();
  CHECK(std::abs(mean) < 0.05);
  CHECK(std::abs(var - 1) < 0.05);
}

TEST_CASE("label_embedding: table gradient against finite differences, and its tangent") {
  nn::label_embedding<double> emb(3, 5);
  const std::vector<int> labels{1, -1, 1, 2};
  const tensor<double> gy = random_tensor(shape{4, 5}, 8);
  const tensor<double> dgy = random_tensor(shape{4, 5}, 9);
  auto loss = [&] {
    const auto& y = emb.forward(labels);
    double s = 0;
    for (index_t i = 0; i < y.size(); ++i) s += gy[i] * y[i];
    return s;
  };
  emb.forward(labels);
  zero_grad(emb);
  emb.backward(gy);
  const tensor<double> g(*collect_params(emb)[0].grad);
  tensor<double>& w = emb.weight();
  const double h = 1e-5;
  for (index_t i = 0; i < w.size(); ++i) {
    const double w0 = w[i];
    w[i] = w0 + h;
    const double lp = loss();
    w[i] = w0 - h;
    const double lm = loss();
    w[i] = w0;
    CHECK(g[i] == doctest::Approx((lp - lm) / (2 * h)).epsilon(1e-7));
  }
  // Row 0 is unused; row 1 gets gy[0] + gy[2], the null row gy[1].
  for (index_t k = 0; k < 5; ++k) {
    CHECK(g(0, k) == 0);
    CHECK(g(1, k) == doctest::Approx(gy(0, k) + gy(2, k)));
    CHECK(g(3, k) == doctest::Approx(gy(1, k)));
  }
  // Accumulates; grad::input alone leaves the table gradient unchanged.
  emb.forward(labels);
  emb.backward(gy, grad::input);
  tensor<double>& gw = *collect_params(emb)[0].grad;
  for (index_t i = 0; i < gw.size(); ++i) CHECK(gw[i] == g[i]);
  emb.backward(gy);
  for (index_t i = 0; i < gw.size(); ++i) CHECK(gw[i] == doctest::Approx(2 * g[i]));
  // backward_tangent adds the same scatter of dgy.
  zero_grad(emb);
  emb.backward_tangent(dgy);
  for (index_t k = 0; k < 5; ++k) {
    CHECK(gw(0, k) == 0);
    CHECK(gw(1, k) == doctest::Approx(dgy(0, k) + dgy(2, k)));
    CHECK(gw(2, k) == doctest::Approx(dgy(3, k)));
    CHECK(gw(3, k) == doctest::Approx(dgy(1, k)));
  }
  emb.backward_tangent(dgy);
  CHECK(gw(2, 1) == doctest::Approx(2 * dgy(3, 1)));

  tensor<double> bad(shape{3, 5});
  CHECK_THROWS_WITH_AS(emb.backward(bad), doctest::Contains("expected [4, 5]"), ebm::error);
  CHECK_THROWS_WITH_AS(emb.backward_tangent(bad), doctest::Contains("expected [4, 5]"), ebm::error);
}
