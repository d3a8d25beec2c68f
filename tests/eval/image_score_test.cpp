#include <doctest/doctest.h>

#include <ebm/eval/image_score.hpp>

using namespace ebm;

namespace {
// Four classes of 8 x 8 images: a bright quadrant (one per class) on a dark
// background, with noise.
data::image_dataset<float> quadrants(index_t n, std::uint64_t seed) {
  tensor<float> x(shape{n, 1, 8, 8});
  std::vector<int> y(static_cast<std::size_t>(n));
  philox rng(seed);
  for (index_t i = 0; i < n; ++i) {
    const int k = static_cast<int>(i % 4);
    y[static_cast<std::size_t>(i)] = k;
    for (index_t r = 0; r < 8; ++r)
      for (index_t c = 0; c < 8; ++c) {
        const bool on = (r < 4) == (k < 2) && (c < 4) == (k % 2 == 0);
        x(i, 0, r, c) = static_cast<float>(std::clamp((on ? 0.5 : -0.5) + 0.15 * rng.normal(), -1.0, 1.0));
      }
  }
  return data::image_dataset<float>(std::move(x), std::move(y));
}
eval::classifier_options tiny() {
  eval::classifier_options o;
  o.image_size = 8;
  o.width = 4;
  o.features = 8;
  o.classes = 4;
  return o;
}
struct fixture {
  data::image_dataset<float> train = quadrants(400, 1), test = quadrants(200, 2);
  eval::classifier<float> clf{tiny(), 3};
  eval::evaluator_options opt;
  fixture() {
    eval::classifier_training t;
    t.epochs = 3;
    t.batch_size = 20;
    t.lr = 3e-3;
    t.flip = false;  // left-right mirroring would swap the classes
    eval::train_classifier(clf, train, nullptr, t);
    opt.nn_queries = 100;
    opt.pca_components = 6;
  }
};
}  // namespace

TEST_CASE("evaluator: held-out data scores like data, copies are flagged, noise is far") {
  fixture f;
  REQUIRE(f.clf.accuracy(f.test.images().view(), f.test.labels()) > 0.95);
  eval::evaluator<float> ev(f.clf, f.train, f.test, f.opt);
  CHECK(ev.test_nearest().size() == 100);

  const auto fresh = quadrants(200, 3);
  const eval::image_score s = ev.score(fresh.images().view(), "fresh");
  CHECK(s.name == "fresh");
  CHECK(s.count == 200);
  CHECK(s.nn_queries == 100);
  CHECK(std::accumulate(s.histogram.begin(), s.histogram.end(), index_t{0}) == 200);
  CHECK(s.classes_present == 4);
  CHECK(s.class_entropy > 0.99);
  CHECK(s.memorisation.ratio == doctest::Approx(1.0).epsilon(0.1));
  CHECK(s.memorisation.copy_fraction < 0.1);

  const eval::image_score copies = ev.score(f.train.images().view(), "train");
  CHECK(copies.memorisation.ratio == 0.0);
  CHECK(copies.memorisation.copy_fraction == 1.0);

  philox rng(4);
  const tensor<float> noise = eval::uniform_noise_images<float>(shape{200, 1, 8, 8}, rng);
  const eval::image_score n = ev.score(noise.view(), "noise");
  CHECK(n.frechet > 5 * s.frechet);
  CHECK(n.memorisation.ratio > 1.5);

  // One class only: present 1 of 4, entropy 0.
  std::vector<index_t> zeros;
  for (index_t i = 0; i < 200; i += 4) zeros.push_back(i);
  const auto only0 = f.test.subset(zeros);
  const eval::image_score one = ev.score(only0.images().view(), "class 0");
  CHECK(one.classes_present == 1);
  CHECK(one.class_entropy == doctest::Approx(0.0).epsilon(1e-9));

  tensor<float> wrong(shape{10, 1, 16, 16});
  CHECK_THROWS_AS(ev.score(wrong.view()), ebm::error);
}

TEST_CASE("evaluator: baselines in the documented order; the tables list every row") {
  fixture f;
  eval::evaluator<float> ev(f.clf, f.train, f.test, f.opt);
  const auto rows = ev.score_baselines(120);
  REQUIRE(rows.size() == 5);
  CHECK(rows[0].name == "training images (copies)");
  CHECK(rows[0].memorisation.copy_fraction == 1.0);
  CHECK(rows[1].name.find("test + N(0, 0.1") == 0);
  CHECK(rows[2].name == "PCA-6 Gaussian per class");
  CHECK(rows[3].name == "uniform noise");
  CHECK(rows[4].name.find("test blurred") == 0);
  for (const auto& r : rows) CHECK(r.count == 120);
  // Uniform noise is the worst image set by the Fréchet distance.
  for (int i : {0, 1, 2, 4}) CHECK(rows[3].frechet > rows[static_cast<std::size_t>(i)].frechet);

  const std::string table = eval::markdown_table(rows);
  for (const auto& r : rows) CHECK(table.find("| " + r.name + " |") != std::string::npos);
  CHECK(table.find("Fréchet distance") != std::string::npos);
  const char* names[] = {"a", "b", "c", "d"};
  const std::string hist = eval::markdown_histogram(rows, names);
  CHECK(hist.find("| images | a | b | c | d |") != std::string::npos);
  CHECK(std::count(hist.begin(), hist.end(), '\n') == 2 + 5);
}
