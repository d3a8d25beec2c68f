#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include <ebm/ebm.hpp>

using namespace ebm;

TEST_CASE("clip_grad_norm: the global norm over all tensors is clipped exactly") {
  tensor<double> a(shape{2}), ga(shape{2}), b(shape{1}), gb(shape{1});
  std::vector<param_ref<double>> refs{{"a", &a, &ga}, {"b", &b, &gb}};
  ga[0] = 3, ga[1] = 4, gb[0] = 12;  // global norm 13
  CHECK(optim::grad_norm(refs) == 13.0);
  CHECK(optim::clip_grad_norm(refs, 20.0) == 13.0);  // below the bound: untouched
  CHECK(ga[0] == 3.0);
  CHECK(optim::clip_grad_norm(refs, 6.5) == 13.0);
  CHECK(ga[0] == 1.5);
  CHECK(ga[1] == 2.0);
  CHECK(gb[0] == 6.0);
  CHECK(optim::grad_norm(refs) == 6.5);

  // Random gradients in float: the clipped norm is the bound to rounding.
  tensor<float> w(shape{1000}), g(shape{1000});
  philox(4).fill_normal<float>(g.span(), 0.0f, 3.0f);
  std::vector<param_ref<float>> fr{{"w", &w, &g}};
  const double before = optim::clip_grad_norm(fr, 1.0);
  CHECK(before > 50);
  CHECK(optim::grad_norm(fr) == doctest::Approx(1.0).epsilon(1e-6));
  CHECK_THROWS_AS(optim::clip_grad_norm(fr, 0.0), ebm::error);
}

TEST_CASE("clip_grad_norm: zero and non-finite gradients are left alone") {
  tensor<double> a(shape{2}), ga(shape{2});
  std::vector<param_ref<double>> refs{{"a", &a, &ga}};
  CHECK(optim::clip_grad_norm(refs, 1.0) == 0.0);
  ga[0] = std::numeric_limits<double>::infinity();
  ga[1] = 1;
  CHECK(std::isinf(optim::clip_grad_norm(refs, 1.0)));
  CHECK(ga[1] == 1.0);
}
