#include <doctest/doctest.h>

#include <algorithm>
#include <ebm/data/dataset.hpp>
#include <ebm/data/transform.hpp>
#include <set>

using ebm::index_t;
using ebm::shape;
using ebm::tensor;
namespace data = ebm::data;

namespace {
data::image_dataset<float> numbered(index_t n, index_t side = 4, bool labels = true) {
  tensor<float> x(shape{n, 1, side, side});
  for (index_t i = 0; i < n; ++i)
    for (index_t k = 0; k < side * side; ++k) x[i * side * side + k] = float(i);  // sample i is constant i
  std::vector<int> l;
  if (labels)
    for (index_t i = 0; i < n; ++i) l.push_back(int(i % 10));
  return data::image_dataset<float>(std::move(x), std::move(l));
}
}  // namespace

TEST_CASE("shuffled_indices is a permutation, deterministic in (seed, epoch)") {
  std::vector<index_t> a(1000), b(1000), c(1000), d(1000);
  data::shuffled_indices(a, 42, 0);
  data::shuffled_indices(b, 42, 0);
  data::shuffled_indices(c, 42, 1);
  data::shuffled_indices(d, 43, 0);
  CHECK(a == b);
  CHECK(a != c);
  CHECK(a != d);
  std::vector<index_t> s = a;
  std::sort(s.begin(), s.end());
  for (index_t i = 0; i < 1000; ++i) CHECK(s[static_cast<std::size_t>(i)] == i);
  // Not the identity, and not merely rotated: most elements move.
  index_t fixed = 0;
  for (index_t i = 0; i < 1000; ++i) fixed += a[static_cast<std::size_t>(i)] == i;
  CHECK(fixed < 20);
}

TEST_CASE("batch_sampler visits every sample once per epoch and reshuffles per epoch") {
  data::batch_sampler s(10, 3, 7, /*drop_last=*/false);
  CHECK(s.batches_per_epoch() == 4);
  std::vector<std::vector<index_t>> epochs(2);
  for (int e = 0; e < 2; ++e)
    for (int b = 0; b < 4; ++b) {
      const auto idx = s.next();
      CHECK(idx.size() == (b < 3 ? 3u : 1u));
      CHECK(s.epoch() == std::uint64_t(e));
      epochs[static_cast<std::size_t>(e)].insert(epochs[static_cast<std::size_t>(e)].end(), idx.begin(), idx.end());
    }
  for (auto& ep : epochs) {
    std::vector<index_t> sorted = ep;
    std::sort(sorted.begin(), sorted.end());
    for (index_t i = 0; i < 10; ++i) CHECK(sorted[static_cast<std::size_t>(i)] == i);
  }
  CHECK(epochs[0] != epochs[1]);

  data::batch_sampler dropping(10, 3, 7);
  CHECK(dropping.batches_per_epoch() == 3);
  for (int b = 0; b < 7; ++b) CHECK(dropping.next().size() == 3u);
  CHECK(dropping.epoch() == 2);
  CHECK_THROWS_WITH_AS(data::batch_sampler(5, 8, 1), doctest::Contains("exceeds the 5 samples"), ebm::error);
}

TEST_CASE("a sampler restored from (epoch, position) continues with the same batches") {
  data::batch_sampler a(50, 8, 123);
  for (int i = 0; i < 9; ++i) a.next();  // into the second epoch
  const auto epoch = a.epoch();
  const auto pos = a.position();
  CHECK(epoch == 1);
  data::batch_sampler b(50, 8, 123);
  b.restore(epoch, pos);
  for (int i = 0; i < 20; ++i) {
    const auto x = a.next();
    const auto y = b.next();
    CHECK(std::equal(x.begin(), x.end(), y.begin(), y.end()));
  }
}

TEST_CASE("batch() fills the caller's tensor and labels without reallocating") {
  const auto ds = numbered(20);
  data::batch_loader<float> loader(ds, 4, 99);
  tensor<float> out;
  std::vector<int> labels;
  auto idx = loader.next(out, 0, &labels);
  REQUIRE(out.shape() == shape{4, 1, 4, 4});
  const float* storage = out.data();
  const int* label_storage = labels.data();
  for (int step = 0; step < 12; ++step) {
    idx = loader.next(out, 0, &labels);
    CHECK(out.data() == storage);
    CHECK(labels.data() == label_storage);
    for (index_t k = 0; k < 4; ++k) {
      CHECK(out(k, 0, 3, 3) == float(idx[static_cast<std::size_t>(k)]));
      CHECK(labels[static_cast<std::size_t>(k)] == int(idx[static_cast<std::size_t>(k)] % 10));
    }
  }
  const auto unlabelled = numbered(5, 4, false);
  const index_t i0[1] = {0};
  CHECK_THROWS_WITH_AS(unlabelled.batch(i0, out, 0, &labels), doctest::Contains("without labels"), ebm::error);
}

TEST_CASE("the pyramid holds exact 2x2 averages at every level") {
  tensor<double> x(shape{3, 2, 32, 32});
  for (index_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37 * double(i)) * 0.9;
  data::image_dataset<double> ds(x);
  ds.build_pyramid(4);
  CHECK(ds.resolutions() == std::vector<index_t>{32, 16, 8, 4});
  // Pixel (1, 2) of level 16 is the mean of pixels (2..3, 4..5) at 32.
  const auto& l16 = ds.images(16);
  REQUIRE(l16.shape() == shape{3, 2, 16, 16});
  CHECK(l16(2, 1, 1, 2) == doctest::Approx((x(2, 1, 2, 4) + x(2, 1, 2, 5) + x(2, 1, 3, 4) + x(2, 1, 3, 5)) / 4));
  // Each level equals the area average of the finest one over its block.
  for (index_t r : {16, 8, 4}) {
    const tensor<double> direct = data::resize_images<double>(x.view(), r, r);
    const auto& level = ds.images(r);
    REQUIRE(level.shape() == direct.shape());
    for (index_t i = 0; i < level.size(); ++i) CHECK(level[i] == doctest::Approx(direct[i]).epsilon(1e-12));
  }
  // A batch at a coarse level holds the same samples as at the finest.
  tensor<double> fine, coarse;
  const index_t idx[2] = {2, 0};
  ds.batch(idx, fine, 0);
  ds.batch(idx, coarse, 4);
  CHECK(coarse.shape() == shape{2, 2, 4, 4});
  CHECK(coarse(0, 0, 0, 0) == ds.images(4)(2, 0, 0, 0));
  CHECK(fine(1, 1, 5, 6) == x(0, 1, 5, 6));
  CHECK_THROWS_WITH_AS(ds.images(12), doctest::Contains("no level of resolution 12 (have 32, 16, 8, 4"), ebm::error);

  data::image_dataset<double> odd(tensor<double>(shape{1, 1, 28, 28}));
  CHECK_THROWS_WITH_AS(odd.build_pyramid(4), doctest::Contains("cannot halve 7x7"), ebm::error);
}

TEST_CASE("splits and subsets keep samples, labels and pyramid levels together") {
  auto ds = numbered(30, 8);
  ds.build_pyramid(2);
  auto [head, tail] = data::split_at(ds, 20);
  CHECK(head.size() == 20);
  CHECK(tail.size() == 10);
  CHECK(tail.images()(0, 0, 0, 0) == 20.0f);
  CHECK(tail.labels()[0] == 0);
  CHECK(tail.images(2)(9, 0, 1, 1) == 29.0f);

  auto [train, test] = data::random_split(ds, 6, 5);
  auto [train2, test2] = data::random_split(ds, 6, 5);
  REQUIRE(test.size() == 6);
  REQUIRE(train.size() == 24);
  std::set<float> seen;
  for (index_t i = 0; i < 6; ++i) {
    CHECK(test.images()(i, 0, 0, 0) == test2.images()(i, 0, 0, 0));
    CHECK(test.labels()[static_cast<std::size_t>(i)] == int(test.images()(i, 0, 0, 0)) % 10);
    seen.insert(test.images()(i, 0, 0, 0));
  }
  for (index_t i = 0; i < 24; ++i) seen.insert(train.images(4)(i, 0, 3, 3));
  CHECK(seen.size() == 30u);
  CHECK(ds.num_classes() == 10);
}
