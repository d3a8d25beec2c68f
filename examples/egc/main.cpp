// EGC on Fashion-MNIST: one network that classifies in its forward pass and
// generates by reverse diffusion in its backward pass (Guo et al. 2023).
//
//   ebm_egc train     [--preset demo|hour] [--mode egc|unsupervised|classifier] [--out DIR] [--resume]
//   ebm_egc classify  --checkpoint F [--n 10000]          accuracy, confusion matrix, per-image CSV
//   ebm_egc sample    --checkpoint F [--scale 6]          class-conditional grid (a row per class), IDX
//   ebm_egc inpaint   --checkpoint F                      RePaint completions of masked test images
//   ebm_egc attack    --checkpoint F [--baseline F]       FGSM/PGD accuracy curves (CSV + PNG)
//
// Run `ebm_egc help` for every option.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include <ebm/data/fashion_mnist.hpp>
#include <ebm/data/idx.hpp>
#include <ebm/io/png.hpp>
#include <ebm/pipeline/egc_trainer.hpp>
#include <ebm/sample/diffusion.hpp>
#include <ebm/sample/interpolate.hpp>

#include "device.hpp"

using namespace egcx;

namespace {

const char* usage = R"(usage: ebm_egc COMMAND [options]

commands
  train      train an EGC model (or, with --mode classifier, a plain classifier of the same network)
  classify   test-set accuracy, confusion matrix and denoising loss; per-image logits and energies as CSV
  sample     DDIM with classifier guidance from the same network: a grid with one row per class,
             samples (and labels) as IDX files, and a row interpolating between two noises
  inpaint    RePaint completions of test images with the centre (or the right half) masked
  attack     FGSM and PGD (L-inf) accuracy curves, optionally against a --baseline classifier

data
  --data DIR          Fashion-MNIST IDX directory (default /usr/share/datasets/fashion-mnist)

train
  --preset NAME       demo (about 10 minutes on 2 cores, default) or hour (c = 32, about 40 minutes)
  --mode M            egc (default), unsupervised (labels latent), classifier (cross-entropy only, t = 0)
  --out DIR           output directory (default egc_out)
  --steps N --batch N --lr X --channels N --gamma X --smoothing X --ema X   override the preset
  --low-t X           share of each batch with t drawn from [0, --low-t-steps N) (default 100) instead of
                      the whole schedule; the Fisher term is importance-weighted back (default 0)
  --clean-ce W        also the cross-entropy of the clean batch (t = 0) with weight W, one more forward and
                      backward per step (default 0)
  --resnet            the plain ResNet variant instead of the UNet
  --seed N --threads N --checkpoint-every N (steps; a guided sample grid is drawn at each, default 500)
  --device cpu|cuda   where to train (cuda: network, loss, Adam and the average on the GPU; needs a build with CUDA)
  --resume            continue from DIR/checkpoint.ebm

sampling and evaluation
  --checkpoint FILE   written by train (required)
  --out DIR           where results go (default: next to the checkpoint)
  --raw               use the raw parameters instead of their moving average
  --n N               images (classify: test images, default 10000; sample: per class, default 8)
  --steps S           DDIM steps (default 50)      --scale X   guidance scale (default 6; 0 = unguided)
  --eta X             DDIM eta (default 1; 0 = deterministic)   --seed N
  --device cpu|cuda   sample: run the reverse diffusion on the GPU (needs a build with CUDA)
  --samples-out FILE  sample: write the samples as IDX (unsigned bytes) and FILE.labels.idx
  inpaint: --mask center|right   --completions K (default 4)   --resample R (default 5)
  attack:  --baseline FILE   --eps LIST (default 0,0.01,0.02,0.03,0.05,0.08)   --pgd-steps N (default 10)
)";

ebm::egc::train_options preset(const std::string& name) {
  ebm::egc::train_options t;
  t.net.channels = 16;
  t.net.multipliers = {1, 2, 2};
  t.net.res_blocks = 1;
  t.net.groups = 8;
  t.batch = 64;
  t.lr = 1e-3;
  t.warmup = 100;
  t.ema_decay = 0.995;
  t.checkpoint_every = 500;
  t.loss.gamma = 0.5;  // the paper's 0.005 leaves the classifier at chance for the first thousands of steps
  if (name == "demo") {
    t.steps = 1500;
  } else if (name == "hour") {
    t.net.channels = 32;
    t.steps = 3500;
    t.lr = 5e-4;
    t.ema_decay = 0.998;
  } else {
    throw ebm::error("unknown preset '" + name + "' (demo or hour)");
  }
  return t;
}

// ------------------------------------------------------------------ train --
int cmd_train(const options& o) {
  auto t = preset(o.str("--preset", "demo"));
  t.kind = ebm::egc::mode_from_string(o.str("--mode", "egc"));
  t.out_dir = o.str("--out", "egc_out");
  t.steps = o.integer("--steps", t.steps);
  t.batch = o.integer("--batch", t.batch);
  t.lr = o.real("--lr", t.lr);
  t.net.channels = static_cast<int>(o.integer("--channels", t.net.channels));
  t.loss.gamma = o.real("--gamma", t.loss.gamma);
  t.loss.label_smoothing = o.real("--smoothing", t.loss.label_smoothing);
  t.loss.low_t_fraction = o.real("--low-t", t.loss.low_t_fraction);
  t.loss.low_t_steps = static_cast<int>(o.integer("--low-t-steps", t.loss.low_t_steps));
  t.clean_ce_weight = o.real("--clean-ce", t.clean_ce_weight);
  t.ema_decay = o.real("--ema", t.ema_decay);
  t.net.unet = !o.flag("--resnet");
  t.seed = static_cast<std::uint64_t>(o.integer("--seed", 1));
  t.threads = static_cast<int>(o.integer("--threads", 0));
  t.checkpoint_every = static_cast<int>(o.integer("--checkpoint-every", t.checkpoint_every));
  const bool resume = o.flag("--resume");
  const int grid_steps = static_cast<int>(o.integer("--grid-steps", 25));
  const std::string device = device_option(o);
  auto data = load_split(o, true);
  o.reject_unknown();

  std::cout << "EGC (" << to_string(t.kind) << ") on " << data.size() << " Fashion-MNIST images, "
            << (t.net.unet ? "UNet" : "ResNet") << " c = " << t.net.channels << ", " << t.steps << " steps of "
            << t.batch << ", lr " << t.lr << ", gamma " << t.loss.gamma
            << (t.loss.low_t_fraction > 0 ? ", low-t " + std::to_string(t.loss.low_t_fraction) : std::string())
            << (t.clean_ce_weight > 0 ? ", clean-ce " + std::to_string(t.clean_ce_weight) : std::string())
            << ", device " << device << " -> " << t.out_dir.string() << std::endl;
  if (device == "cuda") {
#if defined(EBM_EXAMPLE_CUDA)
    return train_cuda(t, data, resume, grid_steps);
#else
    throw ebm::error(no_cuda);
#endif
  }
  return train_on<ebm::cpu>(t, data, resume, grid_steps);
}

// --------------------------------------------------------------- classify --
int cmd_classify(const options& o) {
  const fs::path ck = o.str("--checkpoint", "");
  if (ck.empty()) throw ebm::error("classify: --checkpoint FILE is required");
  auto m = ebm::egc::load<float>(ck, !o.flag("--raw"), make_device(o));
  auto test = load_split(o, false);
  const index_t n = std::min<index_t>(o.integer("--n", 10000), test.size());
  const fs::path out = output_dir(o, ck);
  o.reject_unknown();
  const int K = m.net->classes();
  std::vector<long long> confusion(std::size_t(K * K), 0);
  std::ofstream csv(out / "classify.csv");
  csv << "index,label,predicted,energy";
  for (int k = 0; k < K; ++k) csv << ",logit" << k;
  csv << '\n';
  long long correct = 0;
  tensor x;
  std::vector<int> labels;
  const index_t batch = 250;
  // The generative side on the same images: the Fisher (denoising) loss at
  // uniform t with fixed noise, the objective's first term without importance
  // weights, so checkpoints trained differently compare on one number.
  const bool denoising = m.kind != ebm::egc::mode::classifier;
  ebm::objective::egc_options fo;
  fo.target = m.target;
  fo.gamma = 0;
  ebm::objective::egc_loss<float> fisher(m.schedule, fo);
  ebm::philox noise_rng(1, 11);
  double fisher_sum = 0;
  std::vector<int> ts;
  tensor eps;
  for (index_t first = 0; first < n; first += batch) {
    const index_t b = std::min(batch, n - first);
    std::vector<index_t> idx(static_cast<std::size_t>(b));
    for (index_t i = 0; i < b; ++i) idx[std::size_t(i)] = first + i;
    test.batch(idx, x, 0, &labels);
    if (denoising) {
      ts.resize(std::size_t(b));
      for (auto& t : ts) t = int(noise_rng.uniform_int(std::uint64_t(m.schedule.steps())));
      eps.resize(x.shape());
      noise_rng.fill_normal<float>(eps.span());
      fisher_sum += double(b) * double(fisher(*m.net, x, {}, ts, eps, 1.0f, false));
    }
    const tensor& z = m.net->classify(x, 0);
    const tensor energies = m.net->forward(x);  // same forward (t = 0): energy head
    for (index_t i = 0; i < b; ++i) {
      const float* zi = z.data() + i * K;
      const int pred = int(std::max_element(zi, zi + K) - zi);
      const int y = labels[std::size_t(i)];
      correct += pred == y;
      ++confusion[std::size_t(y * K + pred)];
      csv << first + i << ',' << y << ',' << pred << ',' << energies[i];
      for (int k = 0; k < K; ++k) csv << ',' << zi[k];
      csv << '\n';
    }
  }
  const double acc = double(correct) / double(n);
  std::cout << "test accuracy " << std::fixed << std::setprecision(2) << 100 * acc << "% on " << n << " images\n";
  if (denoising)
    std::cout << "test denoising loss (Fisher term at uniform t, fixed noise) " << std::setprecision(5)
              << fisher_sum / double(n) << std::setprecision(2) << "\n";
  std::ofstream cm(out / "confusion.csv");
  std::cout << "confusion matrix (rows: true class, columns: predicted)\n";
  for (int a = 0; a < K; ++a) {
    std::cout << std::setw(12) << ebm::data::fashion_mnist_classes[std::size_t(a)];
    for (int b = 0; b < K; ++b) {
      std::cout << std::setw(6) << confusion[std::size_t(a * K + b)];
      cm << (b ? "," : "") << confusion[std::size_t(a * K + b)];
    }
    std::cout << '\n';
    cm << '\n';
  }
  std::cout << "per-image logits and energies: " << (out / "classify.csv").string() << std::endl;
  return 0;
}

// ----------------------------------------------------------------- sample --
int cmd_sample(const options& o) {
  const fs::path ck = o.str("--checkpoint", "");
  if (ck.empty()) throw ebm::error("sample: --checkpoint FILE is required");
  const bool raw = o.flag("--raw");
  const int per_class = static_cast<int>(o.integer("--n", 8));
  const int steps = static_cast<int>(o.integer("--steps", 50));
  const double scale = o.real("--scale", default_scale);
  const float eta = static_cast<float>(o.real("--eta", default_eta));
  ebm::philox rng(static_cast<std::uint64_t>(o.integer("--seed", 1)), 7);
  const std::string samples_out = o.str("--samples-out", "");
  const std::string device = device_option(o);
  const ebm::cpu host = make_device(o);
  const fs::path out = output_dir(o, ck);
  o.reject_unknown();

  sample_result r;
  if (device == "cuda") {
#if defined(EBM_EXAMPLE_CUDA)
    r = sample_cuda(ck, raw, per_class, steps, scale, eta, rng);
#else
    throw ebm::error(no_cuda);
#endif
  } else {
    r = sample_on<ebm::cpu>(ck, raw, host, per_class, steps, scale, eta, rng);
  }
  const fs::path grid = out / ("samples_scale" + std::to_string(int(std::lround(scale * 10))) + ".png");
  ebm::io::save_grid<float>(grid, r.x.view(), per_class);
  std::cout << r.labels.size() << " samples (" << steps << " DDIM steps, guidance scale " << scale << ") in "
            << std::fixed << std::setprecision(1) << r.seconds << " s -> " << grid.string() << " (a row per class)\n";
  std::cout << "the network classifies " << std::setprecision(1) << 100.0 * r.agree
            << "% of them as the class they were guided to\n";
  if (!samples_out.empty()) {
    ebm::data::write_idx_images<float>(samples_out, r.x.view());
    ebm::data::write_idx_labels(samples_out + ".labels.idx", r.labels);
    std::cout << "samples: " << samples_out << ", labels: " << samples_out << ".labels.idx\n";
  }
  ebm::io::save_grid<float>(out / "interpolation.png", r.interpolation.view(), 10);
  std::cout << "interpolation between two noises: " << (out / "interpolation.png").string() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "help" || std::string(argv[1]) == "--help") {
    std::fputs(usage, stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  try {
    const options o(argc, argv, 2);
    if (cmd == "train") return cmd_train(o);
    if (cmd == "classify") return cmd_classify(o);
    if (cmd == "sample") return cmd_sample(o);
    if (cmd == "inpaint") return cmd_inpaint(o);
    if (cmd == "attack") return cmd_attack(o);
    std::cerr << "ebm_egc: unknown command '" << cmd << "'\n" << usage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "ebm_egc " << cmd << ": error: " << e.what() << std::endl;
    return 1;
  }
}
