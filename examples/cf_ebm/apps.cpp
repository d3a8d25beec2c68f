// The application commands of the CF-EBM example: generation, denoising,
// inpainting, out-of-distribution detection and image-to-image translation.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <vector>

#include <ebm/data/digits.hpp>
#include <ebm/data/idx.hpp>
#include <ebm/data/transform.hpp>
#include <ebm/eval/auroc.hpp>
#include <ebm/io/png.hpp>
#include <ebm/sample/schedules.hpp>

#include "device.hpp"

namespace cfx {
namespace {

using ebm::index_t;
using ebm::shape;
using tensor = ebm::tensor<float>;
using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// Where a command writes: --out, else the checkpoint's directory.
fs::path out_path(const options& o, const std::string& file) {
  fs::path dir = o.str("--out", "");
  if (dir.empty()) dir = fs::path(o.str("--checkpoint", "")).parent_path();
  if (dir.empty()) dir = ".";
  fs::create_directories(dir);
  return dir / file;
}

/// `n` images from a dataset, picked with a seed (without repetition).
tensor pick(const ebm::data::image_dataset<float>& d, index_t n, std::uint64_t seed) {
  n = std::min(n, d.size());
  std::vector<index_t> idx(static_cast<std::size_t>(d.size()));
  ebm::data::shuffled_indices(idx, seed, 0);
  idx.resize(static_cast<std::size_t>(n));
  tensor out;
  d.batch(idx, out);
  return out;
}

/// Rows of n images each, stacked into one grid with n columns.
void save_rows(const fs::path& path, const std::vector<const tensor*>& rows) {
  const index_t n = rows[0]->extent(0);
  tensor all(rows[0]->shape().with(0, n * index_t(rows.size())));
  for (std::size_t r = 0; r < rows.size(); ++r)
    std::copy_n(rows[r]->data(), rows[r]->size(), all.data() + index_t(r) * rows[0]->size());
  ebm::io::save_grid<float>(path, all.view(), static_cast<int>(n));
}

/// PSNR in dB for images in [-1, 1] (peak-to-peak 2).
double psnr(const tensor& a, const tensor& b, const tensor* mask = nullptr) {
  double se = 0, count = 0;
  for (index_t i = 0; i < a.size(); ++i) {
    const double w = mask ? (*mask)[i % mask->size()] : 1.0;
    se += w * (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    count += w;
  }
  return 10 * std::log10(4.0 / std::max(se / count, 1e-12));
}

std::vector<float> energies(model_t& m, const tensor& x, index_t batch = 500) {
  std::vector<float> e;
  auto& net = m.net();
  tensor chunk;
  for (index_t i = 0; i < x.extent(0); i += batch) {
    const index_t k = std::min(batch, x.extent(0) - i);
    chunk = tensor(x.samples(i, k));
    const tensor& y = net.forward(chunk);
    e.insert(e.end(), y.begin(), y.end());
  }
  return e;
}

}  // namespace

int cmd_generate(const options& o) {
  const fs::path checkpoint = o.str("--checkpoint", "");
  const index_t n = o.integer("--n", 64);
  const std::string mode = o.str("--mode", "chain");
  ebm::philox rng(static_cast<std::uint64_t>(o.integer("--seed", 1)), 1);
  const fs::path grid = out_path(o, "generate_" + mode + ".png");
  const std::string samples_out = o.str("--samples-out", "");
  const std::string device = o.str("--device", "cpu");
  const int threads = static_cast<int>(o.integer("--threads", 0));
  o.str("--out", "");  // read later, by out_path()
  o.reject_unknown();
  if (mode != "fine" && mode != "chain") throw ebm::error("--mode must be fine or chain, got '" + mode + "'");
  if (device != "cpu" && device != "cuda") throw ebm::error("--device must be cpu or cuda, got '" + device + "'");

  tensor x;
  if (device == "cuda") {
#if defined(EBM_EXAMPLE_CUDA)
    x = generate_cuda(checkpoint, n, mode, rng);
#else
    throw ebm::error("--device cuda: this ebm_cf_ebm was built without CUDA (configure with the CUDA toolkit and cuDNN "
                     "present; see docs/cuda.md)");
#endif
  } else {
    x = generate_on<ebm::cpu>(checkpoint, n, mode, rng, threads > 0 ? ebm::cpu(threads) : ebm::cpu());
  }
  ebm::io::save_grid<float>(grid, x.samples(0, std::min<index_t>(n, 100)), 10);
  std::cout << "grid: " << grid.string() << std::endl;
  if (!samples_out.empty()) {
    ebm::data::write_idx_images<float>(samples_out, x.view());
    std::cout << "samples (IDX, unsigned bytes): " << samples_out << std::endl;
  }
  return 0;
}

int cmd_denoise(const options& o) {
  model_t m = load_model(o.str("--checkpoint", ""), static_cast<int>(o.integer("--threads", 0)));
  const index_t n = o.integer("--n", 10);
  const int top = m.levels() - 1;
  const std::string method = o.str("--method", "posterior");
  if (method != "posterior" && method != "refine")
    throw ebm::error("--method must be posterior or refine, got '" + method + "'");
  ebm::cf_ebm::denoise_options d;
  d.sigma = o.real("--sigma", d.sigma);
  d.temperature = o.real("--temperature", d.temperature);
  d.data_weight = o.real("--data-weight", d.data_weight);
  d.fine_steps = static_cast<int>(o.integer("--steps", d.fine_steps));
  d.sample = o.flag("--sample");
  d.chains = static_cast<int>(o.integer("--chains", d.chains));
  d.start_level = static_cast<int>(o.integer("--start-level", std::max(0, top - 1)));
  const std::uint64_t seed = static_cast<std::uint64_t>(o.integer("--seed", 1));
  const auto test = load_images(o, false);
  o.str("--out", "");  // read later, by out_path()
  o.reject_unknown();
  const double sigma = d.sigma;

  const tensor clean = pick(test, n, seed);
  tensor noisy(clean.shape());
  ebm::philox rng(seed, 2);
  rng.fill_normal<float>(noisy.span(), 0.0f, float(sigma));
  for (index_t i = 0; i < noisy.size(); ++i) noisy[i] = std::clamp(noisy[i] + clean[i], -1.0f, 1.0f);
  const auto t0 = clock_type::now();
  tensor denoised;
  if (method == "refine") {
    // Coarse-to-fine chain: the noisy image pooled down to the start level,
    // then the stages up.  It forgets the observation after the start.
    if (d.start_level < 0 || d.start_level > top) throw ebm::error("--method refine needs --start-level in [0, top]");
    denoised = m.refine(noisy, d.start_level, rng);
  } else {
    denoised = m.denoise(noisy, rng, d);
  }
  const double secs = seconds_since(t0);
  const double before = psnr(noisy, clean), after = psnr(denoised, clean);
  const fs::path grid = out_path(o, "denoise.png");
  save_rows(grid, {&clean, &noisy, &denoised});
  std::printf("denoising %lld test images, sigma %.2f, %s: PSNR %.2f dB -> %.2f dB (%.1f s)\n",
              static_cast<long long>(clean.extent(0)), sigma, method.c_str(), before, after, secs);
  std::cout << "grid (rows: clean, noisy, denoised): " << grid.string() << std::endl;
  return 0;
}

int cmd_inpaint(const options& o) {
  model_t m = load_model(o.str("--checkpoint", ""));
  const index_t n = o.integer("--n", 10);
  const int k = static_cast<int>(o.integer("--completions", 6));
  const int top = m.levels() - 1;
  const int start = static_cast<int>(o.integer("--start-level", std::min(1, top)));
  const std::uint64_t seed = static_cast<std::uint64_t>(o.integer("--seed", 1));
  const auto test = load_images(o, false);
  o.str("--out", "");  // read later, by out_path()
  o.reject_unknown();

  const tensor clean = pick(test, n, seed);
  // The centre 16×16 square of a 32×32 image: 25% of the pixels.
  const index_t c = clean.extent(1), h = clean.extent(2), w = clean.extent(3);
  tensor mask(shape{c, h, w});
  for (index_t ch = 0; ch < c; ++ch)
    for (index_t i = h / 4; i < h / 4 + h / 2; ++i)
      for (index_t j = w / 4; j < w / 4 + w / 2; ++j) mask[(ch * h + i) * w + j] = 1;
  tensor shown(clean);
  for (index_t i = 0; i < shown.size(); ++i)
    if (mask[i % mask.size()] != 0) shown[i] = 0;  // mid grey marks the hole
  std::vector<tensor> completions;
  ebm::philox rng(seed, 3);
  double psnr_sum = 0, spread = 0;
  for (int r = 0; r < k; ++r) {
    // Coarse-to-fine inpainting: the hole starts as noise at `start` and only
    // its pixels move, stage after stage; observed pixels never change.
    tensor x = m.refine(clean, start, rng, mask.view());
    for (index_t i = 0; i < x.size(); ++i)
      if (mask[i % mask.size()] == 0 && x[i] != clean[i])
        throw ebm::error("inpainting moved an observed pixel: the mask was not respected");
    psnr_sum += psnr(x, clean, &mask);
    if (r > 0) spread += std::sqrt([&] { double s = 0; for (index_t i = 0; i < x.size(); ++i) s += (x[i] - completions[0][i]) * (x[i] - completions[0][i]); return s / double(x.extent(0)); }());
    completions.push_back(std::move(x));
  }
  std::vector<const tensor*> rows{&clean, &shown};
  for (auto& x : completions) rows.push_back(&x);
  const fs::path grid = out_path(o, "inpaint.png");
  save_rows(grid, rows);
  std::printf("inpainting %lld test images (25%% masked), %d completions each: PSNR of the hole %.2f dB, "
              "mean L2 distance between completions %.2f\n",
              static_cast<long long>(n), k, psnr_sum / k, k > 1 ? spread / (k - 1) : 0.0);
  std::cout << "grid (rows: original, masked, completions): " << grid.string() << std::endl;
  return 0;
}

int cmd_ood(const options& o) {
  model_t m = load_model(o.str("--checkpoint", ""));
  const index_t n = o.integer("--n", 2000);
  const std::uint64_t seed = static_cast<std::uint64_t>(o.integer("--seed", 1));
  const std::string digits_path = o.str("--digits", ebm::data::sklearn_digits_default_path.string());
  const auto test = load_images(o, false);
  o.str("--out", "");  // read later, by out_path()
  o.reject_unknown();
  const int top = m.levels() - 1;
  m.net().set_stage(top, 1.0f);

  const tensor in = pick(test, n, seed);
  const index_t k = in.extent(0);
  ebm::philox rng(seed, 4);
  struct set {
    std::string name;
    tensor x;
  };
  std::vector<set> sets;
  tensor noise(in.shape());
  rng.fill_uniform<float>(noise.span(), -1, 1);
  sets.push_back({"uniform noise", std::move(noise)});
  tensor constant(in.shape());
  for (index_t i = 0; i < k; ++i) {
    const float v = float(rng.uniform(-1, 1));
    std::fill_n(constant.data() + i * in.shape().sample_size(), in.shape().sample_size(), v);
  }
  sets.push_back({"constant images", std::move(constant)});
  tensor interp(in.shape());
  const tensor other = pick(test, n, seed + 1);
  for (index_t i = 0; i < in.size(); ++i) interp[i] = 0.5f * (in[i] + other[i]);
  sets.push_back({"interpolations of test pairs", std::move(interp)});
  if (fs::exists(digits_path)) {
    auto digits = ebm::data::load_digits<float>(digits_path);
    tensor d28;
    ebm::data::resize_images<float>(digits.images().view(), 28, 28, d28);
    tensor d32(shape{d28.extent(0), 1, 32, 32}, -1.0f);
    for (index_t s = 0; s < d28.extent(0); ++s)
      for (index_t i = 0; i < 28; ++i)
        for (index_t j = 0; j < 28; ++j) d32(s, 0, i + 2, j + 2) = d28(s, 0, i, j);
    sets.push_back({"digits (scikit-learn 8x8, upscaled)", std::move(d32)});
  } else {
    std::cout << "(digits skipped: " << digits_path << " not found; install python3-sklearn)" << std::endl;
  }

  const auto e_in = energies(m, in);
  std::vector<float> score_in(e_in.size());
  std::transform(e_in.begin(), e_in.end(), score_in.begin(), [](float e) { return -e; });
  double mean_in = 0;
  for (float e : e_in) mean_in += e;
  std::printf("| data set | images | mean energy | AUROC (test set vs it) |\n| --- | --- | --- | --- |\n");
  std::printf("| Fashion-MNIST test set | %lld | %.3f | - |\n", static_cast<long long>(k), mean_in / double(k));
  std::ofstream csv(out_path(o, "ood_energies.csv"));
  csv << "set,energy\n";
  for (float e : e_in) csv << "test," << e << '\n';
  for (auto& s : sets) {
    const auto e = energies(m, s.x);
    std::vector<float> score(e.size());
    std::transform(e.begin(), e.end(), score.begin(), [](float v) { return -v; });
    double mean = 0;
    for (float v : e) mean += v, csv << '"' << s.name << "\"," << v << '\n';
    const double auc = ebm::eval::auroc<float>(score_in, score);
    std::printf("| %s | %lld | %.3f | %.4f |\n", s.name.c_str(), static_cast<long long>(e.size()),
                mean / double(e.size()), auc);
  }
  return 0;
}

int cmd_translate(const options& o) {
  model_t m = load_model(o.str("--checkpoint", ""));
  const index_t n = o.integer("--n", 10);
  const int top = m.levels() - 1;
  const int steps = static_cast<int>(o.integer("--steps", m.langevin_steps(top)));
  const std::uint64_t seed = static_cast<std::uint64_t>(o.integer("--seed", 1));
  ebm::data::image_dataset<float> source;
  if (o.has("--source-images")) {
    ebm::data::image_folder_options f;
    f.channels = m.cfg().image_channels;
    source = ebm::data::image_dataset<float>(ebm::data::load_image_folder<float>(o.str("--source-images", ""), f));
  } else {
    ebm::data::fashion_mnist_options f;
    f.dir = o.str("--data", ebm::data::fashion_mnist_default_dir.string());
    source = ebm::data::load_fashion_mnist<float>(ebm::data::fashion_mnist_split::test, f);
    const auto classes = parse_classes(o.str("--source-classes", "7"));
    std::vector<index_t> keep;
    for (index_t i = 0; i < source.size(); ++i)
      for (int c : classes)
        if (source.labels()[static_cast<std::size_t>(i)] == c) keep.push_back(i);
    source = source.subset(keep);
  }
  o.str("--out", "");  // read later, by out_path()
  o.reject_unknown();

  // Eq. (4): y_0 = x (a source image), y_{t+1} = y_t - (s/2) grad E_Y(y_t) + sqrt(eta_t) eps,
  // and the generative saliency map sum_t |grad E_Y(y_t)| per pixel.
  const tensor x = pick(source, n, seed);
  tensor y(x), g, eps(x.shape()), saliency(x.shape());
  const auto& so = m.sampling();
  const ebm::schedule::cf_ebm_decay<float> noise(float(so.noise));
  ebm::philox rng(seed, 5);
  m.with_stage(top, [&] {
    auto e = ebm::energy_of(m.net());
    for (int t = 0; t < steps; ++t) {
      e.energy_and_grad(y, g);
      rng.fill_normal<float>(eps.span());
      const float sd = std::sqrt(std::max(0.0f, noise(t, steps)));
      for (index_t i = 0; i < y.size(); ++i) {
        saliency[i] += std::abs(g[i]);
        y[i] = std::clamp(y[i] - 0.5f * float(so.step_size) * g[i] + sd * eps[i], -1.0f, 1.0f);
      }
    }
  });
  // Each saliency map scaled to [-1, 1] by its own maximum for display.
  const index_t per = x.shape().sample_size();
  for (index_t s = 0; s < x.extent(0); ++s) {
    float* p = saliency.data() + s * per;
    const float mx = std::max(*std::max_element(p, p + per), 1e-12f);
    for (index_t i = 0; i < per; ++i) p[i] = 2 * p[i] / mx - 1;
  }
  const fs::path grid = out_path(o, "translate.png");
  save_rows(grid, {&x, &saliency, &y});
  std::printf("translated %lld source images with %d Langevin steps of the target model\n",
              static_cast<long long>(x.extent(0)), steps);
  std::cout << "grid (rows: source, generative saliency map, translation): " << grid.string() << std::endl;
  return 0;
}

}  // namespace cfx
