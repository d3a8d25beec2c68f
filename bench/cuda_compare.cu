// ebm's side of the GPU comparison with PyTorch (bench/compare_torch_cuda.sh):
//
//   BM_cfebm_langevin_step/res:R/batch:B   one Langevin step's work on the
//       CF-EBM energy (c = 32, 1 channel, spectral norm on): forward and the
//       input gradient, at 32x32 and 64x64, batch 64 and 256;
//   BM_cfebm_chain/graph:G                 a 30-step chain of that energy at
//       32x32, batch 64, eager (G = 0) or replayed as a CUDA graph (G = 1);
//   BM_gaussian_chain                      200 Langevin steps of 1024 chains on
//       a 128-dimensional Gaussian energy in one launch;
//   BM_egc_step / BM_egc_score / BM_egc_classify   the EGC UNet of
//       bench_egc.cpp (c = 32, batch 64) on the GPU: one Fisher training step
//       with exact second derivatives (forward-over-reverse), one reverse-
//       diffusion score evaluation, one classification forward.  PyTorch's
//       side is bench/torch_egc.py --device cuda on bench_egc --export.
//
// GPU times from CUDA events (manual timing).  Without a GPU the program says
// so and exits with status 0.
//
//   cuda_compare [benchmark flags]
//   cuda_compare --export DIR --resolution R --batch B
//       writes the energy's weights (spectral norm off, so they are the
//       weights the convolutions use), an input batch, its energies and input
//       gradients computed on the GPU, as .npy for bench/torch_cfebm.py
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ebm/device/cuda/cuda.cuh>
#include <ebm/energy/cf_ebm.hpp>
#include <ebm/energy/egc_model.hpp>
#include <ebm/objective/egc.hpp>
#include <ebm/io/npy.hpp>
#include <filesystem>
#include <iostream>
#include <string>

#include "egc_bench.hpp"
#include "gpu_timing.cuh"

using namespace ebm;
using ebm::bench::time_gpu;

namespace {


cf_ebm::config cfebm_config(int resolution, bool spectral_norm = true) {
  cf_ebm::config c;
  c.image_channels = 1;
  c.c = 32;
  c.max_resolution = resolution;
  c.spectral_norm = spectral_norm;
  return c;
}

/// The energy at its finest stage, initialised with seed 1 (the same
/// parameters as a host energy initialised with that seed).
struct cfebm_fixture {
  cuda dev;
  cf_ebm::energy<float, cuda> net;
  tensor<float, cuda> x, ones;
  cfebm_fixture(int resolution, index_t batch, bool spectral_norm = true)
      : net(cfebm_config(resolution, spectral_norm), dev), x(shape{batch, 1, resolution, resolution}, dev),
        ones(shape{batch, 1}, dev) {
    nn::initialize(net, 1);
    net.set_stage(net.levels() - 1);
    philox rng(2);
    fill_uniform(x, rng, -1.0f, 1.0f);
    ones.fill(1.0f);
  }
};

void BM_cfebm_langevin_step(benchmark::State& st) {
  const int res = int(st.range(0));
  const index_t batch = st.range(1);
  cfebm_fixture f(res, batch);
  time_gpu(st, f.dev, [&] {
    f.net.forward(f.x);
    f.net.backward(f.ones, grad::input);
  });
  st.SetItemsProcessed(st.iterations() * batch);
  st.counters["GFLOP/s"] = benchmark::Counter(2e-9 * 2 * f.net.cfg().macs(f.net.levels() - 1) * double(batch),
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_cfebm_langevin_step)
    ->ArgsProduct({{32, 64}, {64, 256}})
    ->ArgNames({"res", "batch"})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void BM_cfebm_chain(benchmark::State& st) {
  const bool graph = st.range(0) != 0;
  constexpr int steps = 30;
  cfebm_fixture f(32, 64);
  const tensor<float, cuda> x0(f.x);
  cuda_langevin_chain chain(f.net, steps, schedule::constant<float>(1.0f), schedule::cf_ebm_decay<float>(2e-2f),
                            philox(13));
  const auto reset = [&] {
    EBM_CUDA_CHECK(cudaMemcpyAsync(f.x.data(), x0.data(), sizeof(float) * std::size_t(x0.size()),
                                   cudaMemcpyDeviceToDevice, f.dev.stream()));
  };
  if (graph) {
    chain.run(f.x);  // sizes every buffer before the capture
    cuda_graph g = chain.capture(f.x);
    time_gpu(st, f.dev, [&] { g.launch(); }, reset);
  } else {
    time_gpu(st, f.dev, [&] { chain.run(f.x); }, reset);
  }
  st.SetLabel(graph ? "CUDA graph replay" : "eager");
  st.SetItemsProcessed(st.iterations() * steps * 64);  // sample updates
}
BENCHMARK(BM_cfebm_chain)->ArgName("graph")->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMillisecond);

/// The Gaussian of bench/torch_gaussian_chain.py: mean 0, tridiagonal
/// precision (1 on the diagonal, -0.4 beside it).
void BM_gaussian_chain(benchmark::State& st) {
  const cuda dev;
  constexpr index_t N = 1024, D = 128;
  constexpr int steps = 200;
  tensor<float> P(shape{D, D}), mu(shape{D});
  for (index_t i = 0; i < D; ++i) {
    mu[i] = 0.0f;
    for (index_t j = 0; j < D; ++j) P(i, j) = i == j ? 1.0f : (i + 1 == j || j + 1 == i ? -0.4f : 0.0f);
  }
  const auto Pd = to_device(P, dev), mud = to_device(mu, dev);
  tensor<float, cuda> x(shape{N, D}, dev);
  philox init(10), rng(11);
  fill_uniform(x, init, -1.0f, 1.0f);
  time_gpu(st, dev, [&] {
    gaussian_langevin(x, mud, Pd, steps, schedule::constant<float>(0.05f), schedule::constant<float>(0.05f), rng);
  });
  st.SetItemsProcessed(st.iterations() * N * steps);  // chain steps
}
BENCHMARK(BM_gaussian_chain)->UseManualTime()->Unit(benchmark::kMillisecond);

/// bench_egc.cpp's network and fixed training data (egc_bench.hpp), on the GPU.
struct egc_fixture {
  static constexpr int batch = bench::egc_batch;
  cuda dev;
  egc::model<float, cuda> m;
  objective::egc_loss<float, cuda> loss{noise_schedule::linear(bench::egc_steps)};
  bench::egc_data d;
  tensor<float, cuda> x0, eps, ones;
  egc_fixture()
      : m(bench::egc_config(), dev), x0(to_device(d.x0, dev)), eps(to_device(d.eps, dev)), ones(shape{batch, 1}, dev) {
    nn::initialize(m, 1);
    ones.fill(1.0f);
    loss(m, x0, d.labels, d.t, eps);  // sizes every buffer of the four passes
  }
};

void BM_egc_step(benchmark::State& st) {
  egc_fixture f;
  time_gpu(st, f.dev, [&] {
    zero_grad(f.m);
    f.loss(f.m, f.x0, f.d.labels, f.d.t, f.eps);
  });
  st.SetItemsProcessed(st.iterations() * egc_fixture::batch);
}
void BM_egc_score(benchmark::State& st) {
  egc_fixture f;
  const tensor<float, cuda> xt(f.loss.noised()), tt(f.loss.timesteps());
  time_gpu(st, f.dev, [&] {
    f.m.set_time(tt);
    f.m.forward(xt);
    f.m.backward(f.ones, grad::input);
  });
  st.SetItemsProcessed(st.iterations() * egc_fixture::batch);
}
void BM_egc_classify(benchmark::State& st) {
  egc_fixture f;
  time_gpu(st, f.dev, [&] { f.m.classify(f.x0, 0); });
  st.SetItemsProcessed(st.iterations() * egc_fixture::batch);
}
BENCHMARK(BM_egc_step)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_egc_score)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_egc_classify)->UseManualTime()->Unit(benchmark::kMillisecond);

int export_reference(const std::filesystem::path& dir, int resolution, index_t batch) {
  std::filesystem::create_directories(dir);
  cfebm_fixture f(resolution, batch, /*spectral_norm=*/false);
  f.net.visit_params([&](std::string_view name, tensor<float, cuda>& v, tensor<float, cuda>&) {
    io::save_npy<float>(dir / (std::string(name) + ".npy"), to_host(v).view());
  });
  const tensor<float> e = to_host(f.net.forward(f.x));
  const tensor<float> g = to_host(f.net.backward(f.ones, grad::input));
  io::save_npy<float>(dir / "input.npy", to_host(f.x).view());
  io::save_npy<float>(dir / "energy.npy", e.view());
  io::save_npy<float>(dir / "input_grad.npy", g.view());
  std::cout << "exported the CF-EBM " << resolution << "x" << resolution << " energy (c = 32, batch " << batch
            << ", " << param_count(f.net) << " parameters) to " << dir << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (cuda::device_count() == 0) {
    std::printf("cuda_compare: no CUDA device present; nothing to measure\n");
    return 0;
  }
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--export") == 0 && i + 1 < argc) {
      int resolution = 32;
      index_t batch = 64;
      for (int j = 1; j + 1 < argc; ++j) {
        if (std::strcmp(argv[j], "--resolution") == 0) resolution = std::atoi(argv[j + 1]);
        if (std::strcmp(argv[j], "--batch") == 0) batch = std::atoll(argv[j + 1]);
      }
      return export_reference(argv[i + 1], resolution, batch);
    }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
