#include <doctest/doctest.h>

#include <ebm/energy/cf_ebm.hpp>
#include <ebm/nn/pool.hpp>
#include <ebm/testing/derivative_check.hpp>

using namespace ebm;
using ebm::testing::check_derivatives;

namespace {
cf_ebm::config tiny(int max_res, int channels = 1) {
  cf_ebm::config c;
  c.image_channels = channels;
  c.c = 2;
  c.max_resolution = max_res;
  return c;
}
tensor<double> random_images(index_t n, index_t c, index_t r, std::uint64_t seed) {
  tensor<double> x(shape{n, c, r, r});
  philox(seed).fill_uniform<double>(x.span(), -1, 1);
  return x;
}
}  // namespace

TEST_CASE("cf_ebm config: levels, resolutions and Table 6 channel widths") {
  cf_ebm::config c;
  c.c = 32;
  c.max_resolution = 32;
  CHECK(c.levels() == 4);
  CHECK(c.resolution(3) == 32);
  CHECK(c.channels(3) == 32);
  CHECK(c.channels(2) == 64);
  CHECK(c.channels(1) == 128);
  CHECK(c.channels(0) == 128);
  // Multiply-adds of one forward: FromRGB, three Primal blocks, the top block.
  CHECK(c.macs(3) == 44073088.0);  // docs/performance.md: 44.1 M per image
  CHECK(c.macs(0) == 128.0 * 16 + 9 * 128.0 * 128 * 16 + 16 * 128.0 * 128 + 128);
  c.max_resolution = 24;
  CHECK_THROWS_AS(c.validate(), ebm::error);
}

TEST_CASE("cf_ebm energy: derivative contract at every stage, while fading and after") {
  cf_ebm::energy<double> e(tiny(16));
  struct {
    int stage;
    double beta;
  } cases[] = {{0, 1.0}, {1, 0.35}, {1, 1.0}, {2, 0.6}};
  for (auto [stage, beta] : cases) {
    CAPTURE(stage);
    CAPTURE(beta);
    e.set_stage(stage, beta);
    const index_t r = e.resolution();
    auto res = check_derivatives(e, random_images(2, 1, r, 11 + stage));
    INFO(res.str());
    CHECK(res.ok());
  }
}

TEST_CASE("cf_ebm energy: a whole 32x32 RGB energy passes the checker and its Hessian-vector "
          "product matches finite differences of the input gradient") {
  cf_ebm::energy<double> e(tiny(32, 3));
  e.set_stage(3, 0.5);
  const tensor<double> x = random_images(2, 3, 32, 5);
  ebm::testing::check_options opt;
  opt.coordinates = 8;
  auto res = check_derivatives(e, x, opt);
  INFO(res.str());
  CHECK(res.ok());

  // H v = d/dh grad_x E(x + h v), from one tangent pass.
  tensor<double> v(x.shape());
  philox(8).fill_normal<double>(v.span());
  tensor<double> ones(shape{2, 1}, 1.0), zeros(shape{2, 1}, 0.0);
  auto grad_at = [&](double h) {
    tensor<double> xp(x);
    for (index_t i = 0; i < xp.size(); ++i) xp[i] += h * v[i];
    e.forward(xp);
    return tensor<double>(e.backward(ones));
  };
  const double h = 1e-5;
  tensor<double> fd = grad_at(h);
  const tensor<double> gm = grad_at(-h);
  for (index_t i = 0; i < fd.size(); ++i) fd[i] = (fd[i] - gm[i]) / (2 * h);
  e.forward(x);
  e.backward(ones);
  e.forward_tangent(v);
  const tensor<double>& hv = e.backward_tangent(zeros);
  double err = 0, scale = 0;
  for (index_t i = 0; i < hv.size(); ++i) {
    err = std::max(err, std::abs(hv[i] - fd[i]));
    scale = std::max(scale, std::abs(fd[i]));
  }
  CHECK(scale > 0);
  CHECK(err <= 1e-6 * scale);
}

TEST_CASE("cf_ebm energy: expansion is continuous at beta = 0 (equals the coarse model on "
          "pooled inputs)") {
  cf_ebm::energy<double> e(tiny(16));
  const tensor<double> x = random_images(3, 1, 16, 3);
  nn::avg_pool2d<double> pool;
  const tensor<double> pooled(pool.forward(x));
  e.set_stage(1);
  const tensor<double> coarse(e.forward(pooled));
  e.set_stage(2, 0.0);
  const tensor<double> expanded(e.forward(x));
  for (index_t i = 0; i < 3; ++i) CHECK(expanded[i] == doctest::Approx(coarse[i]).epsilon(1e-12));
  // And moves away from it as beta grows.
  e.set_beta(0.5);
  const tensor<double> half(e.forward(x));
  CHECK(std::abs(half[0] - coarse[0]) > 1e-6);
}

TEST_CASE("cf_ebm energy: active parameters follow the stage; bad inputs are reported") {
  cf_ebm::energy<float> e(tiny(16));
  auto count = [&] {
    int n = 0;
    e.visit_params([&](std::string_view, auto&, auto&) { ++n; });
    return n;
  };
  e.set_stage(0);
  const int at0 = count();
  e.set_stage(1, 0.5);
  const int fading = count();
  e.set_stage(1, 1.0);
  const int at1 = count();
  CHECK(fading > at1);
  CHECK(at1 > at0);
  int all = 0;
  e.visit_all_params([&](std::string_view, auto&, auto&) { ++all; });
  CHECK(all > fading);
  tensor<float> wrong(shape{2, 1, 16, 16});
  CHECK_THROWS_WITH_AS(e.forward(wrong), doctest::Contains("expected images [N, 1, 8, 8]"), ebm::error);
  CHECK_THROWS_AS(e.set_stage(3), ebm::error);
}
