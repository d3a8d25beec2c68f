#include <doctest/doctest.h>

#include <Eigen/SVD>
#include <ebm/ebm.hpp>
#include <ebm/nn/branch.hpp>
#include <ebm/nn/logsumexp.hpp>
#include <ebm/nn/spectral_norm.hpp>
#include <ebm/testing/derivative_check.hpp>

using namespace ebm;
using ebm::testing::check_derivatives;

TEST_CASE("spectral_norm: sigma matches the largest singular value from Eigen's SVD") {
  nn::spectral_norm<nn::linear<double>> sn(nn::linear<double>(7, 5), 0);
  philox rng(3);
  rng.fill_normal<double>(sn.weight().span());
  sn.power_iteration(100);
  Eigen::Map<Eigen::Matrix<double, 5, 7, Eigen::RowMajor>> w(sn.weight().data());
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(w);
  CHECK(std::abs(sn.sigma() - svd.singularValues()(0)) < 1e-3 * svd.singularValues()(0));
  // After forward the effective weight has unit spectral norm.
  tensor<double> x(shape{2, 7});
  sn.forward(x);
  Eigen::Map<Eigen::Matrix<double, 5, 7, Eigen::RowMajor>> wsn(sn.inner().weight().data());
  Eigen::JacobiSVD<Eigen::MatrixXd> svd2(wsn);
  CHECK(svd2.singularValues()(0) == doctest::Approx(1.0).epsilon(1e-3));
}

TEST_CASE("spectral_norm: derivative contract (u, v held fixed), parameter names, refresh") {
  nn::spectral_norm<nn::linear<double>> sn(nn::linear<double>(6, 4));
  auto r = check_derivatives(sn, shape{3, 6});
  INFO(r.str());
  CHECK(r.ok());
  auto params = collect_params(sn);
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "weight");
  CHECK(params[1].name == "bias");
  int buffers = 0;
  visit_buffers(sn, [&](std::string_view name, auto&) { buffers += name == "u"; });
  CHECK(buffers == 1);
}

TEST_CASE("residual, blend and identity: derivative contract and values") {
  using lin = nn::linear<double>;
  nn::residual res(nn::sequential{lin(4, 4), nn::swish<double>{}}, lin(4, 4), 0.5);
  auto r = check_derivatives(res, shape{3, 4});
  INFO(r.str());
  CHECK(r.ok());

  nn::residual plain(nn::sequential{lin(4, 4), nn::gelu<double>{}}, nn::identity<double>{});
  r = check_derivatives(plain, shape{2, 4});
  INFO(r.str());
  CHECK(r.ok());

  nn::blend b(nn::sequential{lin(4, 3), nn::softplus<double>{}}, lin(4, 3), 0.3);
  r = check_derivatives(b, shape{2, 4});
  INFO(r.str());
  CHECK(r.ok());

  // beta = 0 is exactly the fade branch; beta = 1 exactly the primal branch.
  tensor<double> x(shape{2, 4});
  philox(5).fill_normal<double>(x.span());
  b.set_beta(0);
  tensor<double> y0(b.forward(x));
  tensor<double> fade(b.fade().forward(x));
  for (index_t i = 0; i < y0.size(); ++i) CHECK(y0[i] == fade[i]);
  b.set_beta(1);
  tensor<double> y1(b.forward(x));
  tensor<double> primal(b.primal().forward(x));
  for (index_t i = 0; i < y1.size(); ++i) CHECK(y1[i] == primal[i]);
  CHECK_THROWS_AS(b.set_beta(1.5), ebm::error);

  auto names = collect_params(b);
  CHECK(names[0].name == "primal.0.weight");
  CHECK(names.back().name == "fade.bias");
}

TEST_CASE("branches with different output shapes are reported") {
  nn::residual bad(nn::linear<double>(4, 3), nn::linear<double>(4, 2));
  tensor<double> x(shape{2, 4});
  CHECK_THROWS_WITH_AS(bad.forward(x), doctest::Contains("disagree on the output shape"), ebm::error);
}

namespace {
// A CF-EBM residual block: 3x3 conv, 3x3 stride-2 conv (both Swish) against
// pooling and a 1x1 conv.  With skip = {pool, conv} the residual writes its
// sums through forward_add / backward_add; wrapping the skip in identities
// turns that off (identity has neither), which gives the reference.
template <class T>
auto residual_block(T skip_scale) {
  using conv_act = nn::conv2d<T, cpu, act::swish>;
  using conv_lin = nn::conv2d<T>;
  conv_act c1(8, 8, 3, 1, 1), c2(8, 16, 3, 2, 1);
  conv_lin c3(8, 16, 1);
  philox rng(17);
  c1.init(rng), c2.init(rng), c3.init(rng);
  auto main = nn::sequential{c1, c2};
  using fused_skip = nn::sequential<nn::avg_pool2d<T>, conv_lin>;
  using plain_skip = nn::sequential<nn::identity<T>, nn::avg_pool2d<T>, conv_lin, nn::identity<T>>;
  static_assert(requires(fused_skip& k, const tensor<T>& t, tensor<T>& o) {
    k.forward_add(t, t, T(1), o);
    k.backward_add(t, grad::input, t, o);
  });
  static_assert(!requires(plain_skip& k, const tensor<T>& t, tensor<T>& o) { k.forward_add(t, t, T(1), o); });
  static_assert(!requires(plain_skip& k, const tensor<T>& t, tensor<T>& o) { k.backward_add(t, grad::input, t, o); });
  return std::pair{nn::residual(main, nn::sequential{nn::avg_pool2d<T>{}, c3}, skip_scale),
                   nn::residual(main,
                                nn::sequential{nn::identity<T>{}, nn::avg_pool2d<T>{}, c3, nn::identity<T>{}},
                                skip_scale)};
}
}  // namespace

TEST_CASE("residual with a pooled 1x1 skip: the fused sums equal the separate passes") {
  // Float on 16x16 planes (Winograd, panel and direct kernels): bit-identical
  // with skip scale 1, to rounding otherwise.
  for (float scale : {1.0f, 0.5f}) {
    auto [fused, plain] = residual_block<float>(scale);
    const tensor<float> x = [] {
      tensor<float> t(shape{3, 8, 16, 16});
      philox(23).fill_normal<float>(t.span());
      return t;
    }();
    tensor<float> gy(shape{3, 16, 8, 8});
    philox(24).fill_normal<float>(gy.span());
    const tensor<float> y1(fused.forward(x)), y2(plain.forward(x));
    const tensor<float> g1(fused.backward(gy, grad::both)), g2(plain.backward(gy, grad::both));
    REQUIRE(y1.shape() == y2.shape());
    REQUIRE(g1.shape() == g2.shape());
    auto p1 = collect_params(fused), p2 = collect_params(plain);
    REQUIRE(p1.size() == p2.size());
    if (scale == 1.0f) {
      for (index_t i = 0; i < y1.size(); ++i) REQUIRE(y1[i] == y2[i]);
      for (index_t i = 0; i < g1.size(); ++i) REQUIRE(g1[i] == g2[i]);
      for (std::size_t k = 0; k < p1.size(); ++k)
        for (index_t i = 0; i < p1[k].grad->size(); ++i) REQUIRE((*p1[k].grad)[i] == (*p2[k].grad)[i]);
    } else {
      for (index_t i = 0; i < y1.size(); ++i) REQUIRE(y1[i] == doctest::Approx(y2[i]).epsilon(1e-6));
      for (index_t i = 0; i < g1.size(); ++i) REQUIRE(g1[i] == doctest::Approx(g2[i]).epsilon(1e-6));
    }
    // Tangent passes after a fused forward.
    const tensor<float> d1(fused.forward_tangent(x)), d2(plain.forward_tangent(x));
    for (index_t i = 0; i < d1.size(); ++i) REQUIRE(d1[i] == doctest::Approx(d2[i]).epsilon(1e-5));
  }
  // Double: the fused block passes the derivative checker.
  auto [fused, plain] = residual_block<double>(0.5);
  auto r = check_derivatives(fused, shape{2, 8, 8, 8});
  INFO(r.str());
  CHECK(r.ok());
}

TEST_CASE("residual with a pooled 1x1 skip: a shape mismatch names both branches") {
  nn::residual bad(nn::sequential{nn::conv2d<float>(4, 6, 3, 2, 1)},
                   nn::sequential{nn::avg_pool2d<float>{}, nn::conv2d<float>(4, 5, 1)});
  tensor<float> x(shape{2, 4, 8, 8});
  CHECK_THROWS_WITH_AS(bad.forward(x), doctest::Contains("branch 'skip', summed into the output [2, 6, 4, 4] of branch 'main'"),
                       ebm::error);
  CHECK_THROWS_WITH_AS(bad.forward(x), doctest::Contains("expected [2, 5, 4, 4] but got [2, 6, 4, 4]"), ebm::error);
}

TEST_CASE("logsumexp_energy: values, stability and the derivative contract") {
  nn::logsumexp_energy<double> head;
  tensor<double> f(shape{2, 3});
  f[0] = 0, f[1] = std::log(2.0), f[2] = std::log(5.0);
  f[3] = 1000, f[4] = 1000, f[5] = -1000;
  const auto& e = head.forward(f);
  CHECK(e[0] == doctest::Approx(-std::log(8.0)));
  CHECK(e[1] == doctest::Approx(-(1000 + std::log(2.0))));
  auto r = check_derivatives(head, shape{3, 4});
  INFO(r.str());
  CHECK(r.ok());
  // Per-pixel logits [N, C, H, W] (EGC's head).
  r = check_derivatives(head, shape{2, 3, 2, 2});
  INFO(r.str());
  CHECK(r.ok());
}

TEST_CASE("a classifier free energy network passes the checker") {
  nn::sequential net{nn::spectral_norm(nn::linear<double>(5, 8)), nn::swish<double>{},
                     nn::residual(nn::sequential{nn::linear<double>(8, 8), nn::celu<double>{}},
                                  nn::identity<double>{}),
                     nn::linear<double>(8, 4), nn::logsumexp_energy<double>{}};
  auto r = check_derivatives(net, shape{3, 5});
  INFO(r.str());
  CHECK(r.ok());
}
