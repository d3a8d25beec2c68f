// ebm_egc inpaint and attack (see main.cpp for the command line).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <ebm/data/fashion_mnist.hpp>
#include <ebm/eval/adversarial.hpp>
#include <ebm/io/plot.hpp>
#include <ebm/io/png.hpp>
#include <ebm/pipeline/egc_trainer.hpp>
#include <ebm/sample/repaint.hpp>

#include "common.hpp"

namespace egcx {
namespace {
/// The first `n` test images of distinct classes, in class order where possible.
std::vector<index_t> pick_test_images(const ebm::data::image_dataset<float>& test, index_t n) {
  std::vector<index_t> idx;
  std::vector<int> seen;
  for (index_t i = 0; i < test.size() && index_t(idx.size()) < n; ++i) {
    const int y = test.labels()[std::size_t(i)];
    if (std::find(seen.begin(), seen.end(), y) == seen.end()) {
      seen.push_back(y);
      idx.push_back(i);
    }
  }
  for (index_t i = 0; index_t(idx.size()) < n && i < test.size(); ++i)
    if (std::find(idx.begin(), idx.end(), i) == idx.end()) idx.push_back(i);
  return idx;
}
}  // namespace

// ---------------------------------------------------------------- inpaint --
int cmd_inpaint(const options& o) {
  const fs::path ck = o.str("--checkpoint", "");
  if (ck.empty()) throw ebm::error("inpaint: --checkpoint FILE is required");
  auto m = ebm::egc::load<float>(ck, !o.flag("--raw"), make_device(o));
  const std::string mask_kind = o.str("--mask", "center");
  const index_t n = o.integer("--n", 8);
  const int completions = static_cast<int>(o.integer("--completions", 4));
  const int steps = static_cast<int>(o.integer("--steps", 50));
  const int resample = static_cast<int>(o.integer("--resample", 5));
  const double scale = o.real("--scale", 0.0);
  ebm::philox rng(static_cast<std::uint64_t>(o.integer("--seed", 1)), 11);
  auto test = load_split(o, false);
  const fs::path out = output_dir(o, ck);
  o.reject_unknown();
  if (mask_kind != "center" && mask_kind != "right")
    throw ebm::error("inpaint: --mask must be center or right, got '" + mask_kind + "'");

  const auto& c = m.net->cfg();
  const index_t R = c.resolution;
  tensor images;
  std::vector<int> labels;
  test.batch(pick_test_images(test, n), images, 0, &labels);
  // 1 = known.  centre: a 16x16 square (25% of a 32x32 image); right: the right half.
  tensor mask(shape{c.image_channels, R, R}, 1.f);
  for (index_t ch = 0; ch < c.image_channels; ++ch)
    for (index_t y = 0; y < R; ++y)
      for (index_t x = 0; x < R; ++x) {
        const bool hole = mask_kind == "center" ? (y >= R / 4 && y < 3 * R / 4 && x >= R / 4 && x < 3 * R / 4)
                                                : x >= R / 2;
        if (hole) mask[(ch * R + y) * R + x] = 0.f;
      }
  // Rows: original, masked, then the completions; one column per test image.
  tensor grid(shape{(2 + completions) * n, c.image_channels, R, R});
  const index_t per = images.shape().sample_size();
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < per; ++j) {
      grid[i * per + j] = images[i * per + j];
      grid[(n + i) * per + j] = mask[j] > 0.5f ? images[i * per + j] : 0.f;
    }
  ebm::egc::score_model<float> score(*m.net, m.schedule, m.target);
  ebm::repaint<float> sampler(ebm::ddim<float>(m.schedule, steps, 1.f), resample, std::max(1, steps / 10));
  const auto t0 = std::chrono::steady_clock::now();
  double mse_sum = 0;
  for (int k = 0; k < completions; ++k) {
    const tensor x = sampler.sample(score, images, mask, rng, ebm::guidance{labels, scale});
    for (index_t i = 0; i < n * per; ++i) {
      const float v = std::clamp(x[i], -1.f, 1.f);
      grid[(2 + k) * n * per + i] = v;
      if (mask[i % per] < 0.5f) mse_sum += double(v - images[i]) * double(v - images[i]);
    }
    std::cout << "completion " << k + 1 << "/" << completions << std::endl;
  }
  index_t holes = 0;
  for (index_t j = 0; j < per; ++j) holes += mask[j] < 0.5f;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const fs::path png = out / ("inpaint_" + mask_kind + ".png");
  ebm::io::save_grid<float>(png, grid.view(), static_cast<int>(n));
  std::cout << "inpainting (" << mask_kind << " mask, " << completions << " completions of " << n
            << " test images, RePaint with DDIM " << steps << " steps, resample " << resample << ") in " << std::fixed
            << std::setprecision(1) << secs << " s -> " << png.string()
            << "\nrows: original, masked, completions; RMSE of the filled pixels against the originals "
            << std::setprecision(3) << std::sqrt(mse_sum / double(completions * n * holes)) << " (in [-1, 1] units)\n";
  return 0;
}

// ----------------------------------------------------------------- attack --
int cmd_attack(const options& o) {
  const fs::path ck = o.str("--checkpoint", "");
  if (ck.empty()) throw ebm::error("attack: --checkpoint FILE is required");
  const std::string baseline_path = o.str("--baseline", "");
  const index_t n = std::min<index_t>(o.integer("--n", 1000), 10000);
  const int pgd_steps = static_cast<int>(o.integer("--pgd-steps", 10));
  std::vector<double> eps;
  {
    std::stringstream ss(o.str("--eps", "0,0.01,0.02,0.03,0.05,0.08"));
    for (std::string item; std::getline(ss, item, ',');) eps.push_back(std::stod(item));
  }
  ebm::philox rng(static_cast<std::uint64_t>(o.integer("--seed", 1)), 13);
  const ebm::cpu dev = make_device(o);
  auto test = load_split(o, false);
  const fs::path out = output_dir(o, ck);
  o.reject_unknown();

  tensor images;
  std::vector<int> labels;
  std::vector<index_t> idx(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) idx[std::size_t(i)] = i;
  test.batch(idx, images, 0, &labels);

  struct entry {
    std::string name;
    fs::path path;
  };
  std::vector<entry> models{{"EGC", ck}};
  if (!baseline_path.empty()) models.push_back({"cross-entropy classifier", baseline_path});
  std::vector<ebm::io::series> curves;
  std::ofstream csv(out / "robustness.csv");
  csv << "model,attack,eps,accuracy\n";
  for (const auto& e : models) {
    auto m = ebm::egc::load<float>(e.path, true, dev);
    ebm::egc::classifier<float> clf(*m.net, 0);
    for (const auto kind : {ebm::eval::attack::fgsm, ebm::eval::attack::pgd}) {
      const std::string attack = kind == ebm::eval::attack::fgsm ? "FGSM" : "PGD";
      ebm::io::series s{e.name + " " + attack, {}, {}};
      ebm::eval::attack_options ao;
      ao.iters = pgd_steps;
      ao.batch = 100;
      // eps in [0, 1] pixel units (the paper's 8/255 convention); images live in [-1, 1].
      std::vector<double> eps_scaled;
      for (double ep : eps) eps_scaled.push_back(2 * ep);
      const auto curve = ebm::eval::robustness_curve(clf, images.view(), labels, eps_scaled, kind, rng, ao);
      for (std::size_t i = 0; i < curve.size(); ++i) {
        const double ep = eps[i], acc = curve[i].accuracy;
        std::cout << std::setw(26) << e.name << " " << attack << " eps " << std::fixed << std::setprecision(3) << ep
                  << ": accuracy " << std::setprecision(2) << 100 * acc << "%" << std::endl;
        csv << '"' << e.name << "\"," << attack << ',' << ep << ',' << acc << '\n';
        s.x.push_back(ep);
        s.y.push_back(100 * acc);
      }
      curves.push_back(std::move(s));
    }
  }
  ebm::io::plot_options po;
  po.title = "Robustness on " + std::to_string(n) + " Fashion-MNIST test images";
  po.x_label = "eps (L-inf, pixel units of [0, 1])";
  po.y_label = "accuracy (%)";
  po.y_min = 0;
  po.y_max = 100;
  ebm::io::save_plot(out / "robustness.png", curves, po);
  std::cout << "curves: " << (out / "robustness.csv").string() << ", " << (out / "robustness.png").string() << '\n';
  return 0;
}

}  // namespace egcx
