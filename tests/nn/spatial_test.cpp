#include <doctest/doctest.h>

#include <ebm/nn/conv2d.hpp>
#include <ebm/nn/elementwise.hpp>
#include <ebm/nn/flatten.hpp>
#include <ebm/nn/linear.hpp>
#include <ebm/nn/pool.hpp>
#include <ebm/nn/sequential.hpp>
#include <ebm/nn/upsample.hpp>
#include <ebm/testing/derivative_check.hpp>
#include <initializer_list>

using namespace ebm;
using ebm::testing::check_derivatives;

namespace {
tensor<double> from_values(const shape& s, std::initializer_list<double> v) {
  tensor<double> t(s);
  REQUIRE(static_cast<index_t>(v.size()) == t.size());
  index_t i = 0;
  for (double x : v) t[i++] = x;
  return t;
}
void check_values(const tensor<double>& got, const tensor<double>& want) {
  REQUIRE(got.shape() == want.shape());
  for (index_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-15));
  }
}
}  // namespace

TEST_CASE("avg_pool2d: values, free functions on views, derivative contract") {
  const tensor<double> x = from_values(shape{1, 2, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8,  //
                                                            0, 0, 4, 4, 8, 8, 0, 4});
  nn::avg_pool2d<double> pool;
  check_values(pool.forward(x), from_values(shape{1, 2, 1, 2}, {3.5, 5.5, 4, 3}));
  // The free function on a view of part of a batch.
  tensor<double> y(shape{1, 2, 1, 2});
  nn::avg_pool2x2<double>(x.samples(0, 1), y.view());
  check_values(y, from_values(shape{1, 2, 1, 2}, {3.5, 5.5, 4, 3}));
  check_values(nn::avg_pool2x2(x), y);
  tensor<double> gx(shape{1, 2, 2, 4});
  nn::avg_pool2x2_backward<double>(y, gx.view());
  CHECK(gx[0] == 3.5 / 4);
  CHECK(gx[7] == 5.5 / 4);

  for (int threads : {1, 2}) {
    nn::avg_pool2d<double> p(cpu{threads});
    auto r = check_derivatives(p, shape{3, 2, 4, 6});
    INFO(r.str());
    CHECK(r.ok());
  }
}

TEST_CASE("avg_pool2d: odd sizes and wrong ranks are rejected") {
  nn::avg_pool2d<float> pool;
  tensor<float> odd(shape{1, 1, 5, 4});
  CHECK_THROWS_WITH_AS(pool.forward(odd), doctest::Contains("needs an even, positive height and width, got [1, 1, 5, 4]"),
                       ebm::error);
  tensor<float> flat(shape{4, 16});
  CHECK_THROWS_WITH_AS(pool.forward(flat), doctest::Contains("expected an NCHW input"), ebm::error);
  tensor<float> x(shape{1, 1, 4, 4}), wrong(shape{1, 1, 3, 2});
  CHECK_THROWS_WITH_AS(nn::avg_pool2x2<float>(x, wrong.view()),
                       doctest::Contains("expected [1, 1, 2, 2] but got [1, 1, 3, 2]"), ebm::error);
}

TEST_CASE("upsample2d: bilinear matches PyTorch (align_corners=False)") {
  // F.interpolate(torch.tensor([[[[1., 2.], [3., 4.]]]]), scale_factor=2,
  //               mode='bilinear', align_corners=False)
  nn::upsample2d<double> up(nn::upsample_mode::bilinear);
  check_values(up.forward(from_values(shape{1, 1, 2, 2}, {1, 2, 3, 4})),
               from_values(shape{1, 1, 4, 4}, {1.00, 1.25, 1.75, 2.00,  //
                                               1.50, 1.75, 2.25, 2.50,  //
                                               2.50, 2.75, 3.25, 3.50,  //
                                               3.00, 3.25, 3.75, 4.00}));
  // A non-square input: source coordinate max(0, (o + 0.5) / 2 - 0.5) on each
  // axis, the last index clamped.
  const tensor<double> x = from_values(shape{1, 1, 2, 3}, {0, 1, 2, 3, 4, 5});
  check_values(nn::upsample2x(x, nn::upsample_mode::bilinear),
               from_values(shape{1, 1, 4, 6}, {0.00, 0.25, 0.75, 1.25, 1.75, 2.00,  //
                                               0.75, 1.00, 1.50, 2.00, 2.50, 2.75,  //
                                               2.25, 2.50, 3.00, 3.50, 4.00, 4.25,  //
                                               3.00, 3.25, 3.75, 4.25, 4.75, 5.00}));
  // A single pixel is replicated.
  check_values(nn::upsample2x(from_values(shape{1, 1, 1, 1}, {7}), nn::upsample_mode::bilinear),
               tensor<double>(shape{1, 1, 2, 2}, 7.0));
}

TEST_CASE("upsample2d: nearest values, free functions on views") {
  const tensor<double> x = from_values(shape{2, 1, 1, 2}, {1, 2, 3, 4});
  tensor<double> y(shape{1, 1, 2, 4});
  nn::upsample2x<double>(x.samples(1, 1), y.view(), nn::upsample_mode::nearest);
  check_values(y, from_values(shape{1, 1, 2, 4}, {3, 3, 4, 4, 3, 3, 4, 4}));
  tensor<double> gx(shape{1, 1, 1, 2});
  nn::upsample2x_backward<double>(y, gx.view(), nn::upsample_mode::nearest);
  check_values(gx, from_values(shape{1, 1, 1, 2}, {12, 16}));
  nn::upsample2d<float> up;
  CHECK(up.mode() == nn::upsample_mode::nearest);
  tensor<float> flat(shape{3, 4});
  CHECK_THROWS_WITH_AS(up.forward(flat), doctest::Contains("expected an NCHW input"), ebm::error);
  CHECK_THROWS_WITH_AS(nn::upsample2x<double>(x, y.view(), nn::upsample_mode::nearest),
                       doctest::Contains("expected [2, 1, 2, 4] but got [1, 1, 2, 4]"), ebm::error);
}

TEST_CASE("upsample2d: derivative contract (nearest and bilinear, odd and even sizes)") {
  for (auto mode : {nn::upsample_mode::nearest, nn::upsample_mode::bilinear})
    for (shape s : {shape{2, 2, 3, 5}, shape{1, 3, 4, 4}, shape{2, 1, 1, 2}})
      for (int threads : {1, 2}) {
        CAPTURE(s);
        CAPTURE(threads);
        nn::upsample2d<double> up(mode, cpu{threads});
        auto r = check_derivatives(up, s);
        INFO(r.str());
        CHECK(r.ok());
      }
}

TEST_CASE("flatten: shape, values and derivative contract") {
  nn::flatten<double> f;
  const tensor<double> x = from_values(shape{2, 1, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  const auto& y = f.forward(x);
  CHECK(y.shape() == shape{2, 4});
  for (index_t i = 0; i < 8; ++i) CHECK(y[i] == x[i]);
  CHECK(f.backward(y).shape() == shape{2, 1, 2, 2});
  auto r = check_derivatives(f, shape{3, 2, 3, 2});
  INFO(r.str());
  CHECK(r.ok());
  tensor<double> bad(shape{2, 5});
  CHECK_THROWS_WITH_AS(f.backward(bad), doctest::Contains("expected [3, 12] but got [2, 5]"),
                       ebm::error);
}

TEST_CASE("a small CF-EBM-like energy passes the checker end to end") {
  // FromRGB (1x1) -> conv+swish -> stride-2 conv+swish -> 4x4 conv -> flatten
  // -> linear, with a pooled residual-style branch left out for brevity.
  using conv_swish = nn::conv2d<double, cpu, act::swish>;
  nn::sequential net{conv_swish(3, 4, 1),          conv_swish(4, 4, 3, 1, 1, true, cpu(2)),
                     conv_swish(4, 6, 3, 2, 1),    nn::avg_pool2d<double>{},
                     nn::upsample2d<double>(nn::upsample_mode::bilinear),
                     nn::conv2d<double>(6, 5, 4),  nn::flatten<double>{},
                     nn::linear<double>(5, 1)};
  auto r = check_derivatives(net, shape{2, 3, 8, 8});
  INFO(r.str());
  CHECK(r.ok());
}
