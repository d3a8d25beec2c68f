#include <doctest/doctest.h>

#include <cmath>
#include <ebm/eval/classifier.hpp>
#include <ebm/testing/derivative_check.hpp>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

using namespace ebm;

namespace {
// Three classes of 16 x 16 images in [-1, 1]: horizontal stripes, vertical
// stripes, a bright centre square; each with a random phase and noise.
data::image_dataset<float> stripes(index_t n, std::uint64_t seed) {
  tensor<float> x(shape{n, 1, 16, 16});
  std::vector<int> y(static_cast<std::size_t>(n));
  philox rng(seed);
  for (index_t i = 0; i < n; ++i) {
    const int k = static_cast<int>(i % 3);
    y[static_cast<std::size_t>(i)] = k;
    const index_t phase = index_t(rng.uniform_int(4));
    for (index_t r = 0; r < 16; ++r)
      for (index_t c = 0; c < 16; ++c) {
        bool on = k == 0 ? (r + phase) % 4 < 2 : k == 1 ? (c + phase) % 4 < 2 : (r >= 5 && r < 11 && c >= 5 && c < 11);
        x(i, 0, r, c) = static_cast<float>((on ? 0.6 : -0.6) + 0.2 * rng.normal());
      }
  }
  return data::image_dataset<float>(std::move(x), std::move(y));
}
eval::classifier_options tiny() {
  eval::classifier_options o;
  o.image_size = 16;
  o.width = 4;
  o.features = 16;
  o.classes = 3;
  return o;
}
}  // namespace

TEST_CASE("classifier: shapes of logits, features and predictions") {
  eval::classifier<float> c(tiny(), 1);
  const auto d = stripes(7, 1);
  const tensor<float> z = c.logits(d.images().view(), 3);  // batches of 3, 3 and 1
  CHECK(z.shape() == shape{7, 3});
  CHECK(c.features(d.images().view(), 4).shape() == shape{7, 16});
  CHECK(c.predict(d.images().view()).size() == 7);
  std::vector<int> predicted;
  c.features(d.images().view(), 3, &predicted);
  CHECK(predicted == c.predict(d.images().view(), 3));
  // Batching changes only the rounding (GEMM blocking differs with the batch).
  const tensor<float> z1 = c.logits(d.images().view(), 100);
  for (index_t i = 0; i < z.size(); ++i) CHECK(z[i] == doctest::Approx(z1[i]).epsilon(1e-5));
  tensor<float> wrong(shape{2, 1, 8, 8});
  CHECK_THROWS_AS(c.forward(wrong), ebm::error);
  eval::classifier_options bad = tiny();
  bad.image_size = 12;
  CHECK_THROWS_AS(eval::classifier<float>{bad}, ebm::error);
}

TEST_CASE("classifier: follows the derivative contract (double, finite differences)") {
  eval::classifier_options o;
  o.image_size = 8;
  o.width = 2;
  o.features = 5;
  o.classes = 3;
  eval::classifier<double> c(o, 3);
  const auto r = ebm::testing::check_derivatives(c, shape{2, 1, 8, 8});
  INFO(r.str());
  CHECK(r.ok());
}

TEST_CASE("classifier: a few training steps lower the loss; save and load round-trip") {
  const auto train = stripes(240, 2), test = stripes(60, 3);
  eval::classifier<float> c(tiny(), 5);
  eval::classifier_training t;
  t.epochs = 8;
  t.batch_size = 16;
  t.lr = 5e-3;
  const auto rep = eval::train_classifier(c, train, &test, t);
  REQUIRE(rep.losses.size() == 120);
  const double first = std::accumulate(rep.losses.begin(), rep.losses.begin() + 10, 0.0) / 10;
  const double last = std::accumulate(rep.losses.end() - 10, rep.losses.end(), 0.0) / 10;
  INFO("first ", first, " last ", last, " test accuracy ", rep.test_accuracy);
  CHECK(first > std::log(3.0) * 0.8);  // starts near chance
  CHECK(last < 0.5 * first);
  CHECK(rep.test_accuracy > 0.9);

  io::checkpoint ck;
  c.save(ck);
  const io::checkpoint back = io::checkpoint::deserialize(ck.serialize(), "round-trip");
  eval::classifier<float> d = eval::classifier<float>::load(back);
  CHECK(d.options() == c.options());
  const tensor<float> za = c.logits(test.images().view()), zb = d.logits(test.images().view());
  CHECK(std::equal(za.begin(), za.end(), zb.begin()));

  io::checkpoint foreign;
  foreign.set_meta("format", "something else");
  CHECK_THROWS_AS(eval::classifier<float>::load(foreign), ebm::error);
}

TEST_CASE("train_classifier: max_steps, progress lines and label checks") {
  const auto train = stripes(60, 4);
  eval::classifier<float> c(tiny(), 6);
  eval::classifier_training t;
  t.batch_size = 10;
  t.max_steps = 3;
  std::ostringstream log;
  const auto rep = eval::train_classifier(c, train, nullptr, t, &log);
  CHECK(rep.steps == 3);
  CHECK(std::isnan(rep.test_accuracy));
  CHECK(log.str().find("step 3/3") != std::string::npos);
  CHECK(log.str().find("img/s") != std::string::npos);
  CHECK(log.str().find("ETA") != std::string::npos);

  eval::classifier_options two = tiny();
  two.classes = 2;
  eval::classifier<float> small(two);
  CHECK_THROWS_AS(eval::train_classifier(small, train, nullptr, t), ebm::error);  // labels 0..2
}

TEST_CASE("reference_classifier: trains once, then loads from the cache") {
  const auto train = stripes(60, 5), test = stripes(30, 6);
  const auto dir = std::filesystem::temp_directory_path() / "ebm_eval_classifier_test";
  std::filesystem::remove_all(dir);
  eval::reference_options o;
  o.cache_dir = dir;
  o.arch = tiny();
  o.training.epochs = 1;
  o.training.batch_size = 20;
  eval::reference_info first, second;
  auto a = eval::reference_classifier<float>(train, test, o, nullptr, &first);
  CHECK_FALSE(first.loaded);
  CHECK(std::filesystem::exists(first.file));
  auto b = eval::reference_classifier<float>(train, test, o, nullptr, &second);
  CHECK(second.loaded);
  CHECK(second.file == first.file);
  CHECK(second.test_accuracy == first.test_accuracy);
  CHECK(second.train_seconds == first.train_seconds);
  const tensor<float> za = a.logits(test.images().view()), zb = b.logits(test.images().view());
  CHECK(std::equal(za.begin(), za.end(), zb.begin()));
  // A damaged cache file is replaced by a fresh training run.
  { std::ofstream(first.file, std::ios::binary | std::ios::trunc) << "garbage"; }
  std::ostringstream log;
  eval::reference_info third;
  eval::reference_classifier<float>(train, test, o, &log, &third);
  CHECK_FALSE(third.loaded);
  CHECK(log.str().find("ignoring unusable cache file") != std::string::npos);
  std::filesystem::remove_all(dir);
}
