#include <doctest/doctest.h>

#include <ebm/data/transform.hpp>

using ebm::index_t;
using ebm::shape;
using ebm::tensor;
namespace data = ebm::data;

TEST_CASE("shrinking by an integer factor averages blocks") {
  tensor<double> x(shape{1, 1, 4, 4});
  for (index_t i = 0; i < 16; ++i) x[i] = double(i);
  const tensor<double> y = data::resize_images<double>(x.view(), 2, 2);
  REQUIRE(y.shape() == shape{1, 1, 2, 2});
  CHECK(y[0] == doctest::Approx((0 + 1 + 4 + 5) / 4.0));
  CHECK(y[1] == doctest::Approx((2 + 3 + 6 + 7) / 4.0));
  CHECK(y[2] == doctest::Approx((8 + 9 + 12 + 13) / 4.0));
  CHECK(y[3] == doctest::Approx((10 + 11 + 14 + 15) / 4.0));
}

TEST_CASE("shrinking by a fractional factor weights partial pixels by their overlap") {
  tensor<double> x(shape{1, 1, 1, 3});
  x[0] = 0;
  x[1] = 3;
  x[2] = 6;
  const tensor<double> y = data::resize_images<double>(x.view(), 1, 2);
  // Output 0 covers [0, 1.5): 1 x 0 + 0.5 x 3 over 1.5; output 1 covers [1.5, 3).
  CHECK(y[0] == doctest::Approx(1.5 / 1.5));
  CHECK(y[1] == doctest::Approx((0.5 * 3 + 6) / 1.5));
}

TEST_CASE("growing interpolates bilinearly between pixel centres, clamped at the edges") {
  tensor<double> x(shape{1, 1, 1, 2});
  x[0] = 0;
  x[1] = 1;
  const tensor<double> y = data::resize_images<double>(x.view(), 3, 4);
  REQUIRE(y.shape() == shape{1, 1, 3, 4});
  const double row[4] = {0.0, 0.25, 0.75, 1.0};
  for (index_t r = 0; r < 3; ++r)
    for (index_t c = 0; c < 4; ++c) CHECK(y[r * 4 + c] == doctest::Approx(row[c]));
}

TEST_CASE("resizing keeps constants and per-channel planes separate") {
  tensor<float> x(shape{2, 3, 7, 5});
  for (index_t n = 0; n < 2; ++n)
    for (index_t c = 0; c < 3; ++c)
      for (index_t i = 0; i < 35; ++i) x[(n * 3 + c) * 35 + i] = float(n) - 0.25f * float(c);
  for (auto [h, w] : {std::pair<index_t, index_t>{3, 2}, {7, 5}, {16, 11}}) {
    const tensor<float> y = data::resize_images<float>(x.view(), h, w);
    for (index_t n = 0; n < 2; ++n)
      for (index_t c = 0; c < 3; ++c)
        for (index_t i = 0; i < h * w; ++i)
          CHECK(y[(n * 3 + c) * h * w + i] == doctest::Approx(float(n) - 0.25f * float(c)));
  }
}

TEST_CASE("padding centres the image and fills with the background value") {
  tensor<float> x(shape{1, 1, 28, 28}, 0.5f);
  const tensor<float> y = data::pad_images<float>(x.view(), 32, 32);
  REQUIRE(y.shape() == shape{1, 1, 32, 32});
  for (index_t r = 0; r < 32; ++r)
    for (index_t c = 0; c < 32; ++c) {
      const bool inside = r >= 2 && r < 30 && c >= 2 && c < 30;
      CHECK(y(0, 0, r, c) == (inside ? 0.5f : -1.0f));
    }
  CHECK_THROWS_AS(data::pad_images<float>(x.view(), 20, 32), ebm::error);
}
