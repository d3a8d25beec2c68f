#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include <ebm/energy/gaussian.hpp>
#include <ebm/sample/hmc.hpp>
#include <ebm/sample/initializers.hpp>
#include <ebm/sample/mala.hpp>
#include <ebm/sample/short_run.hpp>

using namespace ebm;

TEST_CASE("noise initializers: shapes, ranges and moments") {
  // 50000 draws: the mean of U(-1, 1) has SE sqrt(1/3 / 50000) = 0.0026, of N(2, 0.5^2)
  // SE 0.5 / sqrt(50000) = 0.0022; tolerance 5 SE (0.013 and 0.011).
  philox rng(1);
  tensor<float> x;
  init::uniform_noise<float>(shape{1, 10, 10}).initialize(x, 500, rng);
  CHECK(x.shape() == shape{500, 1, 10, 10});
  double mean = 0;
  for (float v : x) {
    CHECK((v >= -1 && v < 1));
    mean += v / double(x.size());
  }
  CHECK(std::abs(mean) < 0.013);
  init::gaussian_noise<float>(shape{100}, 2.0f, 0.5f).initialize(x, 500, rng);
  CHECK(x.shape() == shape{500, 100});
  mean = 0;
  double m2 = 0;
  for (float v : x) mean += v / double(x.size()), m2 += double(v - 2) * (v - 2) / double(x.size());
  CHECK(std::abs(mean - 2) < 0.011);
  CHECK(std::abs(m2 - 0.25) < 5 * 0.25 * std::sqrt(2.0 / 50000));
  CHECK_THROWS_AS(init::uniform_noise<float>(shape{2}, 1, -1), ebm::error);
}

TEST_CASE("data initializers: data + noise, source images, masked") {
  philox rng(2);
  tensor<double> data(shape{3, 2, 2});
  for (index_t i = 0; i < data.size(); ++i) data[i] = double(i);
  tensor<double> x;

  init::source_images<double> src(data);
  src.initialize(x, 3, rng);
  CHECK(std::memcmp(x.data(), data.data(), sizeof(double) * data.size()) == 0);
  CHECK_THROWS_WITH_AS(src.initialize(x, 4, rng), doctest::Contains("asked for 4 chains"), ebm::error);

  init::data_plus_noise<double> dn(data, 0.0);
  dn.initialize(x, 3, rng);
  CHECK(std::memcmp(x.data(), data.data(), sizeof(double) * data.size()) == 0);
  // Noise statistics: 3 x 4 x 2000 = 24000 residuals; variance within 5 SE (sqrt(2/24000)).
  tensor<double> big(shape{2000, 3, 4}, 1.0);
  init::data_plus_noise<double> dn2(big, 0.3);
  dn2.initialize(x, 2000, rng);
  double v = 0;
  for (index_t i = 0; i < x.size(); ++i) v += (x[i] - 1) * (x[i] - 1) / double(x.size());
  CHECK(std::abs(v / 0.09 - 1) < 5 * std::sqrt(2.0 / 24000));

  tensor<double> mask(shape{2, 2});
  mask[0] = 1, mask[3] = 1;
  init::masked<double> inpaint(data, mask);
  inpaint.initialize(x, 3, rng);
  for (index_t i = 0; i < x.size(); ++i) {
    if (mask[i % 4] == 0) CHECK(x[i] == data[i]);
    else CHECK((x[i] >= -1 && x[i] < 1));
  }
}

TEST_CASE("short_run: CF-EBM sampler from U(-1, 1), reproducible, with stats") {
  auto target = gaussian<float>::isotropic(4, 0.5f);
  auto sampler = cf_ebm_short_run<float>(shape{4}, 30, 0.1f);
  philox r1(5), r2(5);
  const tensor<float> a = sampler.sample(target, 64, r1);
  const tensor<float> b = sampler.sample(target, 64, r2);
  CHECK(a.shape() == shape{64, 4});
  CHECK(std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0);
  CHECK(sampler.stats().steps == 30);
  CHECK(sampler.steps() == 30);
}

TEST_CASE("short_run with the masked initializer inpaints: observed entries stay bit-identical") {
  // Target: a correlated Gaussian over 8 "pixels"; the first half observed, the second
  // half missing.  Every sampler moves only the missing half, so the observed half is
  // exactly the data; Langevin, MALA and HMC all take the mask from the initializer.
  auto target = gaussian<double>::ar1(8, 0.9);
  philox rng(3);
  const tensor<double> data = target.sample(16, rng);
  tensor<double> mask(shape{8});
  for (index_t j = 4; j < 8; ++j) mask[j] = 1;
  auto check = [&](const tensor<double>& x) {
    for (index_t i = 0; i < x.size(); ++i) {
      if (mask[i % 8] == 0) CHECK(std::memcmp(&x[i], &data[i], sizeof(double)) == 0);
    }
  };
  short_run lg{init::masked<double>(data, mask), unadjusted_langevin(0.05), 40};
  check(lg.sample(target, 16, rng));
  short_run mh{init::masked<double>(data, mask), mala<double>(0.1), 40};
  check(mh.sample(target, 16, rng));
  CHECK(mh.stats().acceptance_rate() > 0.3);
  short_run hm{init::masked<double>(data, mask), hmc<double>(0.1, 5), 20};
  check(hm.sample(target, 16, rng));
  CHECK(hm.stats().acceptance_rate() > 0.3);
}

TEST_CASE("inpainting draws the conditional law of the missing entries") {
  // For x = (a, b) ~ N(0, [[1, r], [r, 1]]) with a observed, b | a ~ N(r a, 1 - r^2).
  // 4000 chains all observing a = 1.5, MALA (exact) for 300 steps from U(-1, 1):
  // the mean of b must be within 5 SE (sqrt(0.36 / 4000) = 0.0095) of 0.8 * 1.5 = 1.2.
  Eigen::Matrix2d c;
  c << 1.0, 0.8, 0.8, 1.0;
  gaussian<double> target(Eigen::Vector2d::Zero(), c);
  tensor<double> data(shape{4000, 2}, 1.5);
  tensor<double> mask(shape{2});
  mask[1] = 1;
  short_run sampler{init::masked<double>(data, mask), mala<double>(0.3), 300};
  philox rng(12);
  const tensor<double> x = sampler.sample(target, 4000, rng);
  double m = 0, v = 0;
  for (index_t i = 0; i < 4000; ++i) m += x(i, 1) / 4000;
  for (index_t i = 0; i < 4000; ++i) v += (x(i, 1) - m) * (x(i, 1) - m) / 3999;
  CHECK(std::abs(m - 1.2) < 5 * std::sqrt(0.36 / 4000));
  CHECK(std::abs(v / 0.36 - 1) < 5 * std::sqrt(2.0 / 4000));
}
