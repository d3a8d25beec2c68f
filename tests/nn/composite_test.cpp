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
