#include <doctest/doctest.h>

#include <ebm/data/fashion_mnist.hpp>

#include "temp_dir.hpp"

using ebm::index_t;
using ebm::shape;
namespace data = ebm::data;

TEST_CASE("a Fashion-MNIST-layout folder loads with padding, resizing or as is") {
  ebm_test::temp_dir dir("fashion_fake");
  ebm::tensor<float> x(shape{4, 1, 28, 28});
  for (index_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(((i * 7) % 256) / 127.5 - 1.0);
  data::write_idx_images<float>(dir / "t10k-images-idx3-ubyte.gz", x.view());
  data::write_idx_labels(dir / "t10k-labels-idx1-ubyte", std::vector<int>{9, 0, 3, 3});  // uncompressed works too
  CHECK(data::fashion_mnist_available(data::fashion_mnist_split::test, dir.path));
  CHECK_FALSE(data::fashion_mnist_available(data::fashion_mnist_split::train, dir.path));

  const auto padded = data::load_fashion_mnist<float>(data::fashion_mnist_split::test, {.dir = dir.path});
  REQUIRE(padded.images().shape() == shape{4, 1, 32, 32});
  CHECK(padded.labels() == std::vector<int>{9, 0, 3, 3});
  CHECK(padded.images()(1, 0, 0, 0) == -1.0f);
  CHECK(padded.images()(1, 0, 2 + 5, 2 + 6) == x(1, 0, 5, 6));

  const auto raw = data::load_fashion_mnist<float>(data::fashion_mnist_split::test,
                                                   {.dir = dir.path, .fit = data::fit_mode::none});
  CHECK(raw.images().shape() == shape{4, 1, 28, 28});
  const auto resized = data::load_fashion_mnist<float>(data::fashion_mnist_split::test,
                                                       {.dir = dir.path, .fit = data::fit_mode::resize, .size = 16});
  CHECK(resized.images().shape() == shape{4, 1, 16, 16});

  data::write_idx_labels(dir / "t10k-labels-idx1-ubyte", std::vector<int>{1, 2});
  CHECK_THROWS_WITH_AS(data::load_fashion_mnist<float>(data::fashion_mnist_split::test, {.dir = dir.path}),
                       doctest::Contains("has 2 labels but"), ebm::error);
  CHECK_THROWS_WITH_AS(data::load_fashion_mnist<float>(data::fashion_mnist_split::test, {.dir = dir / "none"}),
                       doctest::Contains("dataset-fashion-mnist"), ebm::error);
}

TEST_CASE("the real Fashion-MNIST test set, when dataset-fashion-mnist is installed") {
  if (!data::fashion_mnist_available(data::fashion_mnist_split::test)) {
    MESSAGE("skipped: Fashion-MNIST is not installed under " << data::fashion_mnist_default_dir
                                                              << " (Debian package dataset-fashion-mnist)");
    return;
  }
  auto ds = data::load_fashion_mnist<float>(data::fashion_mnist_split::test, {.fit = data::fit_mode::none});
  REQUIRE(ds.images().shape() == shape{10000, 1, 28, 28});
  int hist[10] = {};
  for (int l : ds.labels()) {
    REQUIRE((l >= 0 && l < 10));
    ++hist[l];
  }
  for (int c = 0; c < 10; ++c) CHECK(hist[c] == 1000);  // the test set is balanced
  float lo = 1, hi = -1;
  for (float v : ds.images()) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  CHECK(lo == -1.0f);
  CHECK(hi == 1.0f);

  // The examples' form: padded to 32 x 32 with a 4 x 4 coarsest level.
  auto padded = data::load_fashion_mnist<float>(data::fashion_mnist_split::test);
  padded.build_pyramid(4);
  CHECK(padded.resolutions() == std::vector<index_t>{32, 16, 8, 4});
  CHECK(padded.images(4).shape() == shape{10000, 1, 4, 4});
}
