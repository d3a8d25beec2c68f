#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ebm/pipeline/cf_ebm_trainer.hpp>
#include <filesystem>
#include <sstream>
#include <vector>

using namespace ebm;
namespace fs = std::filesystem;

namespace {
// 96 8×8 images: smooth blobs at random positions (a learnable toy set).
data::image_dataset<float> toy_data() {
  tensor<float> x(shape{96, 1, 8, 8});
  philox rng(42);
  for (index_t n = 0; n < 96; ++n) {
    const double cx = 1 + 6 * rng.uniform(), cy = 1 + 6 * rng.uniform();
    for (index_t i = 0; i < 8; ++i)
      for (index_t j = 0; j < 8; ++j)
        x(n, 0, i, j) = float(2 * std::exp(-((i - cy) * (i - cy) + (j - cx) * (j - cx)) / 4.0) - 1);
  }
  data::image_dataset<float> d(std::move(x));
  d.build_pyramid(4);
  return d;
}

cf_ebm::train_options tiny_options(const fs::path& out) {
  cf_ebm::train_options o;
  o.net.c = 2;
  o.net.max_resolution = 8;
  o.stages = {{5, 1e-3, 16, 64}, {5, 1e-3, 16, 96}};
  o.out_dir = out;
  o.log_every = 1;
  o.checkpoint_every = 0;
  o.grid_every = 0;
  o.threads = 1;
  o.seed = 3;
  return o;
}

struct flat_energy {  // zero energy: a chain on it only adds noise
  using value_type = float;
  using device_type = cpu;
  tensor<float> e;
  const tensor<float>& energy(const tensor<float>& x) { return e.resize(shape{x.extent(0)}).zero(); }
  const tensor<float>& energy_and_grad(const tensor<float>& x, tensor<float>& g) {
    g.resize(x.shape()).zero();
    return energy(x);
  }
};

std::vector<tensor<float>> all_params(cf_ebm::trainer<float>& t) {
  std::vector<tensor<float>> v;
  t.net().visit_all_params([&](std::string_view, tensor<float>& p, tensor<float>&) { v.push_back(p); });
  t.net().visit_buffers([&](std::string_view, tensor<float>& p) { v.push_back(p); });
  return v;
}
std::vector<tensor<float>> weights(cf_ebm::trainer<float>& t) {  // parameters only, no buffers
  std::vector<tensor<float>> v;
  t.net().visit_all_params([&](std::string_view, tensor<float>& p, tensor<float>&) { v.push_back(p); });
  return v;
}
bool bit_equal(const std::vector<tensor<float>>& a, const std::vector<tensor<float>>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!(a[i].shape() == b[i].shape())) return false;
    if (std::memcmp(a[i].data(), b[i].data(), sizeof(float) * std::size_t(a[i].size())) != 0) return false;
  }
  return true;
}
}  // namespace

TEST_CASE("coarse_to_fine_init: beta = 1 is pure noise; otherwise (1-beta)·upsample + beta·noise") {
  flat_energy zero;
  auto sampler = cf_ebm_langevin<float>();
  tensor<float> x, scratch;
  const shape fine{2, 1, 4, 4};
  // beta = 0.25 with zero coarse steps: reproduce by hand from the same stream.
  philox a(9), b(9);
  coarse_to_fine_init(x, fine, zero, sampler, 0, 0.25f, a, scratch);
  tensor<float> coarse(shape{2, 1, 2, 2}), noise(fine);
  b.fill_uniform<float>(coarse.span(), -1, 1);
  b.fill_uniform<float>(noise.span(), -1, 1);
  for (index_t n = 0; n < 2; ++n)
    for (index_t i = 0; i < 4; ++i)
      for (index_t j = 0; j < 4; ++j)
        CHECK(x(n, 0, i, j) == doctest::Approx(0.75f * coarse(n, 0, i / 2, j / 2) + 0.25f * noise(n, 0, i, j)));
  // beta = 1: uniform noise only, no coarse chain.
  philox c(9), d(9);
  coarse_to_fine_init(x, fine, zero, sampler, 30, 1.0f, c, scratch);
  tensor<float> u(fine);
  d.fill_uniform<float>(u.span(), -1, 1);
  for (index_t i = 0; i < u.size(); ++i) CHECK(x[i] == u[i]);
  CHECK(coarse_steps(30, 0.25) == 23);
  CHECK(coarse_steps(30, 1.0) == 0);
}

TEST_CASE("cf_ebm trainer: beta rises linearly to 1 at fade_fraction of the stage, then the stage ends") {
  const fs::path out = fs::temp_directory_path() / "ebm_cfebm_fade";
  fs::remove_all(out);
  auto data = toy_data();
  cf_ebm::trainer<float> t(tiny_options(out), data);
  CHECK(t.stage() == 0);
  CHECK(t.beta() == 1.0f);
  for (int i = 0; i < 4; ++i) t.step();  // 4 × 16 = 64 images: stage 0 done
  CHECK(t.stage() == 1);
  CHECK(t.beta() == 0.0f);
  CHECK(fs::exists(out / "samples_stage0_4x4.png"));
  t.step();  // 16 of 96 images, fade over 48: beta = 1/3
  CHECK(t.beta() == doctest::Approx(16.0 / 48.0));
  t.step();
  t.step();  // 48 images: beta = 1
  CHECK(t.beta() == 1.0f);
  while (!t.finished()) t.step();
  CHECK(t.images_in_stage() == 96);
  CHECK(fs::exists(out / "samples_stage1_8x8.png"));
  CHECK(t.trained_model().has_snapshot(0));
  CHECK(t.trained_model().has_snapshot(1));
  // Both ways of sampling a trained model give images of the final size.
  philox rng(1);
  auto fine = t.trained_model().sample_fine(3, rng);
  auto chain = t.trained_model().sample_multistage(3, rng);
  CHECK(fine.shape() == shape{3, 1, 8, 8});
  CHECK(chain.shape() == shape{3, 1, 8, 8});
  fs::remove_all(out);
}

TEST_CASE("cf_ebm trainer: lr_end decays the learning rate linearly after the fade-in, and Adam uses it") {
  const fs::path out = fs::temp_directory_path() / "ebm_cfebm_lr_end";
  fs::remove_all(out);
  auto data = toy_data();
  auto o = tiny_options(out);
  o.stages[0].lr_end = 0.5;  // stage 0 has no fade: the decay starts at once
  o.stages[1].lr_end = 0.0;  // the last step of the run does not move the parameters
  cf_ebm::trainer<float> t(o, data);
  // Stage 0, 64 images in steps of 16: lr · (1 − 0.5 · k/4) for the k-th step.
  for (int k = 1; k <= 4; ++k) {
    CHECK(t.learning_rate() == doctest::Approx(1e-3 * (1 - 0.5 * k / 4.0)));
    t.step();
  }
  REQUIRE(t.stage() == 1);
  // Stage 1 fades over its first 48 images at full lr, then falls to 0 at 96.
  const double expected[] = {1e-3, 1e-3, 1e-3, 1e-3 * 2 / 3.0, 1e-3 / 3.0};
  for (double lr : expected) {
    CHECK(t.learning_rate() == doctest::Approx(lr));
    t.step();
  }
  CHECK(t.learning_rate() == doctest::Approx(0.0));
  const auto before = weights(t);
  t.step();
  CHECK(bit_equal(weights(t), before));  // Adam stepped with lr 0
  CHECK(t.finished());
  fs::remove_all(out);
}

TEST_CASE("cf_ebm trainer: with ema_decay a stage ends with the moving average of its parameters") {
  const fs::path out = fs::temp_directory_path() / "ebm_cfebm_ema";
  fs::remove_all(out);
  auto data = toy_data();
  // The average does not change the live trajectory within stage 0, so a
  // run without it gives the parameters to average by hand.
  cf_ebm::trainer<float> plain(tiny_options(out / "plain"), data);
  std::vector<tensor<float>> avg = weights(plain);
  const double decay = 0.9;
  for (int k = 0; k < 4; ++k) {
    plain.step();
    const float d = float(std::min(decay, (1.0 + k) / (10.0 + k))), c = 1.0f - d;
    const auto live = weights(plain);
    for (std::size_t i = 0; i < avg.size(); ++i)
      for (index_t j = 0; j < avg[i].size(); ++j) avg[i][j] = d * avg[i][j] + c * live[i][j];
  }
  auto o = tiny_options(out / "ema");
  o.ema_decay = decay;
  cf_ebm::trainer<float> averaged(o, data);
  for (int k = 0; k < 4; ++k) averaged.step();
  REQUIRE(averaged.stage() == 1);
  auto max_distance = [&](const std::vector<tensor<float>>& w) {
    double m = 0;
    for (std::size_t i = 0; i < avg.size(); ++i)
      for (index_t j = 0; j < avg[i].size(); ++j) m = std::max(m, double(std::abs(w[i][j] - avg[i][j])));
    return m;
  };
  const double worst = max_distance(weights(averaged)), moved = max_distance(weights(plain));
  CHECK(worst < 1e-7);
  CHECK(moved > 1e-5);  // the average differs from the live parameters
  fs::remove_all(out);
}

TEST_CASE("cf_ebm trainer: checkpoints round-trip bit-exactly and resuming equals uninterrupted training") {
  const fs::path out = fs::temp_directory_path() / "ebm_cfebm_resume";
  fs::remove_all(out);
  auto data = toy_data();
  // With a moving average and a decaying learning rate as well: both are
  // part of the state, and the run crosses the stage end that swaps the
  // averages in.
  for (const double ema : {0.0, 0.9}) {
    CAPTURE(ema);
    auto options = [&](const fs::path& dir) {
      auto o = tiny_options(dir);
      o.ema_decay = ema;
      if (ema > 0) o.stages[1].lr_end = 0.3;
      return o;
    };
    cf_ebm::trainer<float> straight(options(out / "a"), data);
    for (int i = 0; i < 5; ++i) straight.step();  // into the fading stage
    straight.save_checkpoint(out / "mid.ebm");
    const auto at_save = all_params(straight);
    for (int i = 0; i < 3; ++i) straight.step();

    cf_ebm::trainer<float> resumed(options(out / "b"), data);
    resumed.resume(out / "mid.ebm");
    CHECK(bit_equal(all_params(resumed), at_save));
    CHECK(resumed.stage() == 1);
    CHECK(resumed.steps() == 5);
    for (int i = 0; i < 3; ++i) resumed.step();
    CHECK(bit_equal(all_params(resumed), all_params(straight)));
    CHECK(resumed.beta() == straight.beta());
    while (!straight.finished()) straight.step();
    while (!resumed.finished()) resumed.step();
    CHECK(bit_equal(all_params(resumed), all_params(straight)));
    fs::remove_all(out);
  }
}

TEST_CASE("cf_ebm trainer: divergence stops training and names the last good checkpoint") {
  const fs::path out = fs::temp_directory_path() / "ebm_cfebm_diverge";
  fs::remove_all(out);
  auto data = toy_data();
  auto o = tiny_options(out);
  o.diverge_energy = 1e-12;  // any energy counts as diverged
  cf_ebm::trainer<float> t(o, data);
  t.save_checkpoint();
  std::ostringstream log;
  const std::string expected = "last good checkpoint: " + (out / "checkpoint.ebm").string();
  CHECK_THROWS_WITH_AS(t.run(log), doctest::Contains(expected.c_str()), ebm::error);
  // A checkpoint of another architecture is refused with both descriptions.
  auto other = tiny_options(out / "x");
  other.net.c = 3;
  cf_ebm::trainer<float> t2(other, data);
  CHECK_THROWS_WITH_AS(t2.resume(out / "checkpoint.ebm"), doctest::Contains("different architecture"), ebm::error);
  fs::remove_all(out);
}

TEST_CASE("cf_ebm model: posterior denoising is reproducible, stays in range, follows the observation") {
  const fs::path out = fs::temp_directory_path() / "ebm_cfebm_denoise";
  fs::remove_all(out);
  auto data = toy_data();
  cf_ebm::trainer<float> t(tiny_options(out), data);
  while (!t.finished()) t.step();
  auto& m = t.trained_model();

  tensor<float> clean;
  data.batch(std::vector<index_t>{0, 1, 2, 3}, clean);
  tensor<float> noisy(clean.shape());
  philox noise(9);
  noise.fill_normal<float>(noisy.span(), 0.0f, 0.2f);
  for (index_t i = 0; i < noisy.size(); ++i) noisy[i] = std::clamp(noisy[i] + clean[i], -1.0f, 1.0f);

  cf_ebm::denoise_options o;
  o.sigma = 0.2;
  philox r1(5), r2(5);
  const tensor<float> a = m.denoise(noisy, r1, o), b = m.denoise(noisy, r2, o);
  REQUIRE(a.shape() == noisy.shape());
  CHECK(std::memcmp(a.data(), b.data(), sizeof(float) * std::size_t(a.size())) == 0);
  CHECK(*std::min_element(a.begin(), a.end()) >= -1.0f);
  CHECK(*std::max_element(a.begin(), a.end()) <= 1.0f);

  // The data term ties the chain to the observation: with it (at the cap,
  // w = 1/s) the result lies closer to y than without it (w = 0, the chain
  // then only refines the upsampled 4x4 estimate).
  auto dist = [&](const tensor<float>& x) {
    double s = 0;
    for (index_t i = 0; i < x.size(); ++i) s += (double(x[i]) - noisy[i]) * (double(x[i]) - noisy[i]);
    return std::sqrt(s);
  };
  cf_ebm::denoise_options tied = o, free = o;
  tied.data_weight = 1e6;
  free.data_weight = 0;
  philox r3(5), r4(5);
  const double d_tied = dist(m.denoise(noisy, r3, tied)), d_free = dist(m.denoise(noisy, r4, free));
  INFO("distance to the observation: tied ", d_tied, ", free ", d_free);
  CHECK(d_tied < 0.5 * d_free);

  tensor<float> small(shape{4, 1, 4, 4});
  CHECK_THROWS_WITH_AS(m.denoise(small, r1, o), doctest::Contains("expected images [N, 1, 8, 8]"), ebm::error);
  cf_ebm::denoise_options bad = o;
  bad.sigma = 0;
  CHECK_THROWS_WITH_AS(m.denoise(noisy, r1, bad), doctest::Contains("need sigma > 0"), ebm::error);
  fs::remove_all(out);
}
