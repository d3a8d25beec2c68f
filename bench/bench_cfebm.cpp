// The CF-EBM 32×32 energy (c = 32, batch 64) on the CPU: forward, forward +
// input gradient (one Langevin step's work), forward + full backward (one
// maximum-likelihood pass), for 1 and 3 image channels on 1 and 2 threads;
// and one whole maximum-likelihood iteration (30 Langevin steps + update).
//
//   bench_cfebm [benchmark flags]
//   bench_cfebm --export DIR [--channels C]   writes the network's weights,
//       an input batch and its energies and input gradients as .npy files
//       for bench/torch_cfebm.py (bench/compare_torch.sh runs both).
#include <benchmark/benchmark.h>

#include <cstring>
#include <ebm/ebm.hpp>
#include <ebm/energy/cf_ebm.hpp>
#include <ebm/pipeline/cf_ebm_model.hpp>
#include <ebm/io/npy.hpp>
#include <filesystem>
#include <iostream>
#include <string>

namespace {

constexpr int batch = 64;

ebm::cf_ebm::config bench_config(int channels, bool spectral_norm = true) {
  ebm::cf_ebm::config c;
  c.image_channels = channels;
  c.c = 32;
  c.max_resolution = 32;
  c.spectral_norm = spectral_norm;
  return c;
}

// Multiply-accumulates of one forward pass per sample at the finest stage.
double macs_per_sample(const ebm::cf_ebm::config& c) { return c.macs(c.levels() - 1); }

struct fixture {
  ebm::cpu dev;
  ebm::cf_ebm::energy<float> net;
  ebm::tensor<float> x, ones;
  fixture(int channels, int threads)
      : dev(threads), net(bench_config(channels), dev), x(ebm::shape{batch, channels, 32, 32}),
        ones(ebm::shape{batch, 1}, 1.0f) {
    ebm::nn::initialize(net, 1);
    net.set_stage(net.levels() - 1);
    ebm::philox(2).fill_uniform<float>(x.span(), -1.0f, 1.0f);
  }
};

void set_counters(benchmark::State& st, const ebm::cf_ebm::config& c, double passes) {
  st.counters["img/s"] = benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GFLOP/s"] = benchmark::Counter(2e-9 * passes * macs_per_sample(c) * batch,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

// Every benchmark makes one untimed pass first: the layers allocate their
// buffers on the first call, and the first writes to them fault pages in
// (2-5% of a timed run otherwise; torch_cfebm.py warms up likewise).
void BM_forward(benchmark::State& st) {
  fixture f(int(st.range(0)), int(st.range(1)));
  f.net.forward(f.x);
  for (auto _ : st) benchmark::DoNotOptimize(f.net.forward(f.x).data());
  set_counters(st, f.net.cfg(), 1);
}
// One Langevin step's network work, made as every sampler makes it: through
// network_energy::energy_and_grad, which runs the forward and the input
// gradient inside a first_order_scope (no state kept for tangent passes).
void BM_forward_input_grad(benchmark::State& st) {
  fixture f(int(st.range(0)), int(st.range(1)));
  auto e = ebm::energy_of(f.net);
  ebm::tensor<float> g;
  e.energy_and_grad(f.x, g);
  for (auto _ : st) {
    benchmark::DoNotOptimize(e.energy_and_grad(f.x, g).data());
    benchmark::DoNotOptimize(g.data());
  }
  set_counters(st, f.net.cfg(), 2);  // backward-data costs about one forward
}
void BM_forward_full_backward(benchmark::State& st) {
  fixture f(int(st.range(0)), int(st.range(1)));
  f.net.forward(f.x);
  f.net.backward(f.ones, ebm::grad::both);
  for (auto _ : st) {
    f.net.forward(f.x);
    benchmark::DoNotOptimize(f.net.backward(f.ones, ebm::grad::both).data());
  }
  set_counters(st, f.net.cfg(), 3);
}

// One maximum-likelihood iteration as the CF-EBM trainer runs it at 32x32
// (issue: "T = 30 Langevin steps + one update, batch 64"): 64 chains from
// uniform noise, 30 steps of the paper's Langevin sampler with clamping,
// then the contrastive loss on a data batch and the chains, its full
// backward, one Adam step (beta1 = 0.5) and the spectral-norm refresh.
// bench/torch_cfebm.py times the same iteration.
constexpr int ml_langevin_steps = 30;
void BM_ml_iteration(benchmark::State& st) {
  fixture f(int(st.range(0)), int(st.range(1)));
  ebm::tensor<float> data(f.x.shape()), samples(f.x.shape());
  ebm::philox rng(4);
  rng.fill_uniform<float>(data.span(), -1.0f, 1.0f);
  ebm::cf_ebm::langevin_options lo;
  auto sampler = lo.make<float>();
  ebm::objective::maximum_likelihood<float> ml;
  ebm::optim::adam_options ao;
  ao.beta1 = 0.5;
  ebm::optim::adam<float> adam(ebm::collect_params(f.net), ao);
  {  // warm-up: one step and the loss's passes
    auto e = ebm::energy_of(f.net);
    sampler.run(e, samples, 1, rng);
    ml(f.net, data, samples);
    adam.zero_grad();
  }
  for (auto _ : st) {
    rng.fill_uniform<float>(samples.span(), -1.0f, 1.0f);
    auto e = ebm::energy_of(f.net);
    sampler.run(e, samples, ml_langevin_steps, rng);
    adam.zero_grad();
    benchmark::DoNotOptimize(ml(f.net, data, samples));
    adam.step();
    f.net.refresh();
  }
  // 30 forward + input-gradient passes, then forward + full backward of two batches.
  set_counters(st, f.net.cfg(), 2.0 * ml_langevin_steps + 2 * 3);
}

#define EBM_CFEBM_ARGS ArgsProduct({{1, 3}, {1, 2}})->ArgNames({"ch", "threads"})->Unit(benchmark::kMillisecond)->UseRealTime()
BENCHMARK(BM_forward)->EBM_CFEBM_ARGS;
BENCHMARK(BM_forward_input_grad)->EBM_CFEBM_ARGS;
BENCHMARK(BM_forward_full_backward)->EBM_CFEBM_ARGS;
BENCHMARK(BM_ml_iteration)->ArgsProduct({{1}, {1, 2}})->ArgNames({"ch", "threads"})->Unit(benchmark::kMillisecond)->UseRealTime();

// Writes what bench/torch_cfebm.py needs to rebuild the identical network.
// Spectral normalisation is off here so the exported weights are the ones
// the convolutions use (PyTorch then runs plain convolutions: its best case).
int export_reference(const std::filesystem::path& dir, int channels) {
  std::filesystem::create_directories(dir);
  ebm::cf_ebm::energy<float> net(bench_config(channels, false));
  ebm::nn::initialize(net, 1);
  net.set_stage(net.levels() - 1);
  net.visit_params([&](std::string_view name, ebm::tensor<float>& v, ebm::tensor<float>&) {
    ebm::io::save_npy<float>(dir / (std::string(name) + ".npy"), v.view());
  });
  ebm::tensor<float> x(ebm::shape{batch, channels, 32, 32});
  ebm::philox(2).fill_uniform<float>(x.span(), -1.0f, 1.0f);
  ebm::tensor<float> e(net.forward(x));
  ebm::tensor<float> ones(ebm::shape{batch, 1}, 1.0f);
  ebm::tensor<float> g(net.backward(ones));
  ebm::io::save_npy<float>(dir / "input.npy", x.view());
  ebm::io::save_npy<float>(dir / "energy.npy", e.view());
  ebm::io::save_npy<float>(dir / "input_grad.npy", g.view());
  std::cout << "exported the CF-EBM 32x32 energy (c = 32, " << channels << " channel(s), "
            << ebm::param_count(net) << " parameters, " << macs_per_sample(net.cfg()) / 1e6
            << " MMAC per sample) to " << dir << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--export") == 0 && i + 1 < argc) {
      int channels = 1;
      for (int j = 1; j + 1 < argc; ++j)
        if (std::strcmp(argv[j], "--channels") == 0) channels = std::atoi(argv[j + 1]);
      return export_reference(argv[i + 1], channels);
    }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
