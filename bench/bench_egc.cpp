// The EGC UNet (energy/egc.hpp, egc_model.hpp) at 32×32, 1 image channel,
// 10 classes, channels 32, multipliers {1, 2, 2}, one residual block per
// level, 8 groups, batch 64, on the CPU:
//
//   BM_egc_step       one EGC training step: zero_grad + egc_loss with
//                     gradients (Fisher term with exact second derivatives by
//                     forward-over-reverse, plus the smoothed, √ᾱ-weighted
//                     cross-entropy) at fixed t, ε and labels; no optimizer
//   BM_egc_score      the score evaluation of one reverse-diffusion step:
//                     set_time, forward, backward(ones) for the input gradient
//   BM_egc_classify   classification forward (classify at t = 0)
//
// on 1 and 2 threads; items/s = images per second.
//
// Each thread count also runs in its own process with EBM_NUM_THREADS set to
// it (bench/compare_torch_egc.sh does): the model runs on its own device,
// and the environment variable keeps any default-device work in line too.  A
// case whose default pool differs is labelled "default pool N thr".
//
//   bench_egc [benchmark flags]
//   bench_egc --export DIR   writes the parameters (visit_params order, with
//       names), the batch, timesteps, noise, labels and the reference outputs
//       (energies and input gradient at x_t, loss, the full parameter gradient
//       of the step, class logits at t = 0) as .npy for bench/torch_egc.py
//   bench_egc --passes [--threads N] [--repeats R]   times the four passes of
//       the training step separately (forward, input-gradient backward,
//       forward tangent, backward tangent with parameter gradients)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ebm/ebm.hpp>
#include <ebm/io/npy.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "egc_bench.hpp"

namespace {

constexpr int batch = ebm::bench::egc_batch;
constexpr int steps = ebm::bench::egc_steps;
ebm::egc::config bench_config() { return ebm::bench::egc_config(); }

// Multiply-accumulates of one forward pass per image in the convolutions and
// linear layers (the same walk as egc::network's constructor); group norm,
// Swish, pooling and the heads are not counted.
double macs_per_sample(const ebm::egc::config& c) {
  double macs = 0;
  const int E = c.embedding_width();
  auto conv = [&](int cin, int cout, int k, int res) { macs += double(cin) * cout * k * k * res * res; };
  auto block = [&](int cin, int cout, int res) {
    conv(cin, cout, 3, res);
    conv(cout, cout, 3, res);
    if (cin != cout) conv(cin, cout, 1, res);
    macs += double(E) * cout;
  };
  macs += double(c.channels) * E + double(E) * E;  // time MLP
  conv(c.image_channels, c.width(0), 3, c.resolution);
  std::vector<int> skip{c.width(0)};
  int ch = c.width(0), res = c.resolution;
  for (int l = 0; l < c.levels(); ++l) {
    for (int r = 0; r < c.res_blocks; ++r) {
      block(ch, c.width(l), res);
      ch = c.width(l);
      skip.push_back(ch);
    }
    if (l + 1 < c.levels()) {
      res /= 2;
      skip.push_back(ch);
    }
  }
  block(ch, ch, res);
  if (c.unet) {
    for (int l = c.levels() - 1; l >= 0; --l) {
      for (int r = 0; r <= c.res_blocks; ++r) {
        block(ch + skip.back(), c.width(l), res);
        skip.pop_back();
        ch = c.width(l);
      }
      if (l > 0) res *= 2;
    }
  }
  conv(ch, c.classes, 3, res);
  return macs;
}

// Group-norm weights 1 and biases 0 (their initialisation) would hide a
// swapped or misplaced affine transform from the PyTorch check: perturb them.
void perturb_norms(ebm::egc::model<float>& m) {
  ebm::philox rng(6);
  m.visit_params([&](std::string_view name, ebm::tensor<float>& v, ebm::tensor<float>&) {
    if (name.find("norm") == std::string_view::npos) return;
    const bool weight = name.ends_with(".weight");
    for (auto& x : v.span()) x = (weight ? 1.0f : 0.0f) + 0.1f * float(rng.normal());
  });
}

using data = ebm::bench::egc_data;

struct fixture {
  ebm::cpu dev;
  ebm::egc::model<float> m;
  ebm::objective::egc_loss<float> loss{ebm::noise_schedule::linear(steps)};
  data d;
  ebm::tensor<float> xt, tt, ones;
  explicit fixture(int threads) : dev(threads), m(bench_config(), dev), ones(ebm::shape{batch, 1}, 1.0f) {
    ebm::nn::initialize(m, 1);
    perturb_norms(m);
    // x_t of the training step, and its timesteps as the model takes them.
    loss(m, d.x0, d.labels, d.t, d.eps, 1.0f, false);
    xt = loss.noised();
    tt = loss.timesteps();
  }
};

void annotate(benchmark::State& st, int threads, double forward_equivalents) {
  st.SetItemsProcessed(st.iterations() * batch);
  st.counters["GFLOP/s"] =
      benchmark::Counter(2e-9 * forward_equivalents * macs_per_sample(bench_config()) * batch,
                         benchmark::Counter::kIsIterationInvariantRate);
  if (ebm::cpu().threads() != threads)
    st.SetLabel("default pool " + std::to_string(ebm::cpu().threads()) + " thr (set EBM_NUM_THREADS)");
}

void BM_egc_step(benchmark::State& st) {
  const int threads = int(st.range(0));
  fixture f(threads);
  f.loss(f.m, f.d.x0, f.d.labels, f.d.t, f.d.eps);  // first touch of the tangent passes' buffers
  for (auto _ : st) {
    ebm::zero_grad(f.m);
    benchmark::DoNotOptimize(f.loss(f.m, f.d.x0, f.d.labels, f.d.t, f.d.eps));
  }
  // forward, input-gradient backward, forward tangent, and the backward
  // tangent with parameter gradients (data + two filter correlations).
  annotate(st, threads, 6);
}
void BM_egc_score(benchmark::State& st) {
  const int threads = int(st.range(0));
  fixture f(threads);
  for (auto _ : st) {
    f.m.set_time(f.tt);
    f.m.forward(f.xt);
    benchmark::DoNotOptimize(f.m.backward(f.ones, ebm::grad::input).data());
  }
  annotate(st, threads, 2);
}
void BM_egc_classify(benchmark::State& st) {
  const int threads = int(st.range(0));
  fixture f(threads);
  for (auto _ : st) benchmark::DoNotOptimize(f.m.classify(f.d.x0, 0).data());
  annotate(st, threads, 1);
}

// A step takes about a second on one thread: at least 2 s per measurement.
#define EBM_EGC_ARGS \
  ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0)
BENCHMARK(BM_egc_step)->EBM_EGC_ARGS;
BENCHMARK(BM_egc_score)->EBM_EGC_ARGS;
BENCHMARK(BM_egc_classify)->EBM_EGC_ARGS;

void save(const std::filesystem::path& p, const ebm::tensor<float>& t) { ebm::io::save_npy<float>(p, t.view()); }
ebm::tensor<float> from_ints(const std::vector<int>& v) {
  ebm::tensor<float> t(ebm::shape{static_cast<ebm::index_t>(v.size())});
  for (std::size_t i = 0; i < v.size(); ++i) t[static_cast<ebm::index_t>(i)] = float(v[i]);
  return t;
}

// Writes what bench/torch_egc.py needs to rebuild the identical network and
// check that it computes the identical function.
int export_reference(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir / "params");
  fs::create_directories(dir / "grads");
  fixture f(1);
  const ebm::egc::config c = f.m.cfg();
  {
    std::ofstream cfg(dir / "config.json");
    cfg << "{\"image_channels\": " << c.image_channels << ", \"resolution\": " << c.resolution
        << ", \"classes\": " << c.classes << ", \"channels\": " << c.channels << ", \"multipliers\": [";
    for (std::size_t i = 0; i < c.multipliers.size(); ++i) cfg << (i ? ", " : "") << c.multipliers[i];
    const auto& o = f.loss.options();
    cfg << "], \"res_blocks\": " << c.res_blocks << ", \"groups\": " << c.groups
        << ", \"unet\": " << (c.unet ? "true" : "false") << ", \"steps\": " << steps << ", \"gamma\": " << o.gamma
        << ", \"label_smoothing\": " << o.label_smoothing << ", \"batch\": " << batch << "}\n";
  }
  // The training step's loss and its full parameter gradient.
  ebm::zero_grad(f.m);
  const float l = f.loss(f.m, f.d.x0, f.d.labels, f.d.t, f.d.eps);
  std::ofstream names(dir / "param_names.txt");
  f.m.visit_params([&](std::string_view name, ebm::tensor<float>& v, ebm::tensor<float>& g) {
    names << name << "\n";
    save(dir / "params" / (std::string(name) + ".npy"), v);
    save(dir / "grads" / (std::string(name) + ".npy"), g);
  });
  ebm::tensor<float> loss_parts(ebm::shape{3});
  loss_parts[0] = l;
  loss_parts[1] = float(f.loss.fisher());
  loss_parts[2] = float(f.loss.cross_entropy());
  // The score step at the same x_t and timesteps: energies and input gradient.
  f.m.set_time(f.tt);
  ebm::tensor<float> e(f.m.forward(f.xt));
  ebm::tensor<float> g(f.m.backward(f.ones, ebm::grad::input));
  ebm::tensor<float> z(f.m.classify(f.d.x0, 0));
  save(dir / "x0.npy", f.d.x0);
  save(dir / "eps.npy", f.d.eps);
  save(dir / "t.npy", from_ints(f.d.t));
  save(dir / "labels.npy", from_ints(f.d.labels));
  save(dir / "xt.npy", f.xt);
  save(dir / "energy.npy", e);
  save(dir / "input_grad.npy", g);
  save(dir / "loss.npy", loss_parts);
  save(dir / "logits_t0.npy", z);
  std::cout << "exported the EGC UNet (32x32, 1 channel, 10 classes, c = 32, {1, 2, 2}, "
            << ebm::param_count(f.m) << " parameters, " << macs_per_sample(c) / 1e6
            << " MMAC per image forward) to " << dir << "; loss " << l << " (Fisher " << f.loss.fisher()
            << ", CE " << f.loss.cross_entropy() << ")\n";
  return 0;
}

// The training step split into its passes (the calls egc_loss makes), each
// timed on its own: median milliseconds over `repeats`.
int time_passes(int threads, int repeats) {
  using clock = std::chrono::steady_clock;
  fixture f(threads);
  ebm::tensor<float> v(f.xt.shape()), gz(ebm::shape{batch, 10}), zeros(ebm::shape{batch, 1}, 0.0f);
  ebm::philox(8).fill_normal<float>(v.span(), 0.0f, 1e-4f);
  ebm::philox(9).fill_normal<float>(gz.span(), 0.0f, 1e-4f);
  const char* names[] = {"zero_grad", "forward (+ logits)", "backward (input grad)", "forward_tangent",
                         "backward_tangent (+ param grads)", "whole egc_loss step"};
  std::vector<std::vector<double>> ms(6);
  auto tick = [](clock::time_point& t0) {
    const auto t1 = clock::now();
    const double d = std::chrono::duration<double, std::milli>(t1 - t0).count();
    t0 = t1;
    return d;
  };
  for (int r = 0; r < repeats + 1; ++r) {
    auto t0 = clock::now();
    ebm::zero_grad(f.m);
    const double a = tick(t0);
    f.m.set_time(f.tt);
    f.m.forward(f.xt);
    f.m.logits();
    const double b = tick(t0);
    f.m.backward(f.ones, ebm::grad::input);
    const double c = tick(t0);
    f.m.forward_tangent(v);
    const double d = tick(t0);
    f.m.backward_tangent(zeros, ebm::grad::params, &gz);
    const double e = tick(t0);
    ebm::zero_grad(f.m);
    f.loss(f.m, f.d.x0, f.d.labels, f.d.t, f.d.eps);
    const double w = tick(t0) + a;
    if (r == 0) continue;  // warm-up
    for (int k = 0; const double x : {a, b, c, d, e, w}) ms[static_cast<std::size_t>(k++)].push_back(x);
  }
  std::cout << "EGC training step passes, batch " << batch << ", " << threads << " thread(s) (default pool "
            << ebm::cpu().threads() << "), median of " << repeats << " (ms):\n";
  for (std::size_t k = 0; k < ms.size(); ++k) {
    std::sort(ms[k].begin(), ms[k].end());
    std::cout << "  " << names[k] << ": " << ms[k][ms[k].size() / 2] << "\n";
  }
  return 0;
}

const char* flag_value(int argc, char** argv, const char* flag) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], flag) == 0) return argv[i + 1];
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* dir = flag_value(argc, argv, "--export")) return export_reference(dir);
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--passes") == 0) {
      const char* t = flag_value(argc, argv, "--threads");
      const char* r = flag_value(argc, argv, "--repeats");
      return time_passes(t ? std::atoi(t) : 1, r ? std::max(1, std::atoi(r)) : 5);
    }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
