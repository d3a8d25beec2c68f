#include <doctest/doctest.h>

#include <ebm/pipeline/egc_trainer.hpp>
#include <cstring>
#include <filesystem>
#include <sstream>

using namespace ebm;
namespace fs = std::filesystem;

namespace {
// 64 labelled 8×8 images: class 0 a bright left half, class 1 a bright right half, plus noise.
data::image_dataset<float> toy_data() {
  tensor<float> x(shape{64, 1, 8, 8});
  std::vector<int> y;
  philox rng(42);
  for (index_t n = 0; n < 64; ++n) {
    const int c = int(n % 2);
    y.push_back(c);
    for (index_t i = 0; i < 8; ++i)
      for (index_t j = 0; j < 8; ++j)
        x(n, 0, i, j) = float(((j < 4) == (c == 0) ? 0.8 : -0.8) + 0.1 * rng.normal());
  }
  return data::image_dataset<float>(std::move(x), std::move(y));
}

egc::train_options tiny(const fs::path& out, egc::mode kind = egc::mode::egc) {
  egc::train_options o;
  o.net.resolution = 8;
  o.net.classes = 2;
  o.net.channels = 4;
  o.net.multipliers = {1, 2};
  o.net.groups = 2;
  o.kind = kind;
  o.timesteps = 50;
  o.steps = 6;
  o.batch = 8;
  o.lr = 1e-3;
  o.warmup = 2;
  o.threads = 1;
  o.log_every = 2;
  o.checkpoint_every = 0;
  o.out_dir = out;
  return o;
}

std::vector<tensor<float>> params(egc::trainer<float>& t) {
  std::vector<tensor<float>> v;
  visit_params(t.trained_model(), [&](std::string_view, tensor<float>& p, tensor<float>&) { v.push_back(p); });
  return v;
}
bool bit_equal(const std::vector<tensor<float>>& a, const std::vector<tensor<float>>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(a[i].shape() == b[i].shape()) || std::memcmp(a[i].data(), b[i].data(), sizeof(float) * a[i].size()))
      return false;
  return true;
}
fs::path temp_dir(const char* name) {
  const fs::path p = fs::temp_directory_path() / (std::string("ebm_egc_trainer_") + name);
  fs::remove_all(p);
  return p;
}
}  // namespace

TEST_CASE("egc trainer: runs, logs progress and writes a checkpoint the loader reads") {
  const auto dir = temp_dir("run");
  auto data = toy_data();
  egc::trainer<float> tr(tiny(dir), data);
  std::ostringstream log;
  tr.run(log);
  CHECK(tr.finished());
  CHECK(log.str().find("step 6/6") != std::string::npos);
  CHECK(log.str().find("img/s") != std::string::npos);
  CHECK(log.str().find("ETA") != std::string::npos);
  CHECK(fs::exists(dir / "train_log.csv"));
  auto loaded = egc::load<float>(tr.checkpoint_path(), false);
  CHECK(loaded.kind == egc::mode::egc);
  CHECK(loaded.schedule.steps() == 50);
  CHECK(bit_equal(params(tr), [&] {
    std::vector<tensor<float>> v;
    visit_params(*loaded.net, [&](std::string_view, tensor<float>& p, tensor<float>&) { v.push_back(p); });
    return v;
  }()));
  fs::remove_all(dir);
}

TEST_CASE("egc trainer: resuming from a checkpoint equals uninterrupted training, bit for bit") {
  for (auto kind : {egc::mode::egc, egc::mode::classifier}) {
    INFO("mode " << egc::to_string(kind));
    const auto a = temp_dir("a"), b = temp_dir("b");
    auto data = toy_data();
    egc::trainer<float> full(tiny(a, kind), data);
    for (int i = 0; i < 6; ++i) full.step();

    egc::trainer<float> first(tiny(b, kind), data);
    for (int i = 0; i < 3; ++i) first.step();
    first.save_checkpoint();
    egc::trainer<float> second(tiny(b, kind), data);
    second.resume(first.checkpoint_path());
    CHECK(second.step_count() == 3);
    for (int i = 0; i < 3; ++i) second.step();
    CHECK(bit_equal(params(full), params(second)));
    fs::remove_all(a);
    fs::remove_all(b);
  }
}

TEST_CASE("egc trainer: the classifier learns the toy classes; clear errors for mismatched data and checkpoints") {
  const auto dir = temp_dir("learn");
  auto data = toy_data();
  auto o = tiny(dir, egc::mode::classifier);
  o.steps = 40;
  egc::trainer<float> tr(o, data);
  for (int i = 0; i < 40; ++i) tr.step();
  tensor<float> x;
  std::vector<int> y;
  std::vector<index_t> idx(16);
  for (index_t i = 0; i < 16; ++i) idx[std::size_t(i)] = i;
  data.batch(idx, x, 0, &y);
  const auto& z = tr.trained_model().classify(x, 0);
  int correct = 0;
  for (index_t i = 0; i < 16; ++i) correct += (z[i * 2 + 1] > z[i * 2]) == (y[std::size_t(i)] == 1);
  CHECK(correct == 16);
  tr.save_checkpoint();

  auto other = tiny(dir);
  other.net.channels = 6;
  other.net.groups = 3;
  egc::trainer<float> wrong(other, data);
  CHECK_THROWS_WITH_AS(wrong.resume(tr.checkpoint_path()), doctest::Contains("different architecture"), ebm::error);
  egc::trainer<float> wrong_mode(tiny(dir), data);
  CHECK_THROWS_WITH_AS(wrong_mode.resume(tr.checkpoint_path()), doctest::Contains("mode 'classifier'"), ebm::error);

  auto big = tiny(dir);
  big.net.resolution = 16;
  CHECK_THROWS_WITH_AS(egc::trainer<float>(big, data), doctest::Contains("expects [1, 16, 16]"), ebm::error);
  // A foreign file is not a checkpoint.
  std::ofstream(dir / "junk.ebm") << "not a checkpoint";
  CHECK_THROWS_AS(egc::load<float>(dir / "junk.ebm"), ebm::error);
  fs::remove_all(dir);
}

TEST_CASE("egc trainer: the clean cross-entropy adds its weight times the plain classifier's gradient") {
  // Same seed, data order and random draws: the EGC gradient with the clean
  // term is the EGC gradient without it plus weight × the classifier mode's.
  const auto data = toy_data();
  auto grads = [&](egc::mode kind, double clean, const char* name) {
    egc::train_options o = tiny(temp_dir(name), kind);
    o.clip = 0;  // the raw gradients
    o.clean_ce_weight = clean;
    egc::trainer<float> t(o, data);
    t.step();
    std::vector<tensor<float>> g;
    visit_params(t.trained_model(), [&](std::string_view, tensor<float>&, tensor<float>& gp) { g.push_back(gp); });
    return g;
  };
  const auto with = grads(egc::mode::egc, 0.7, "clean_with");
  const auto without = grads(egc::mode::egc, 0, "clean_without");
  const auto classifier = grads(egc::mode::classifier, 0, "clean_classifier");
  REQUIRE(with.size() == without.size());
  REQUIRE(with.size() == classifier.size());
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < with.size(); ++i)
    for (index_t j = 0; j < with[i].size(); ++j) {
      worst = std::max(worst, std::abs(double(with[i][j]) - double(without[i][j]) - 0.7 * double(classifier[i][j])));
      scale = std::max(scale, std::abs(double(classifier[i][j])));
    }
  INFO("worst " << worst << " against a classifier gradient of up to " << scale);
  CHECK(scale > 1e-3);
  CHECK(worst < 1e-5 * scale);

  egc::train_options bad = tiny(temp_dir("clean_bad"));
  bad.clean_ce_weight = -1;
  CHECK_THROWS_WITH_AS(egc::trainer<float>(bad, data), doctest::Contains("clean_ce_weight must be >= 0"), ebm::error);
}
