// Convolution layer throughput on the shapes of a CF-EBM energy at 32x32
// (channel multiplier c = 32, batch 64), with the fused swish activation the
// energy uses.  Three passes per shape: forward; forward + input gradient
// (one Langevin step); forward + input and parameter gradients (one training
// step of maximum likelihood).  The GFLOPS counter counts 2 flops per
// multiply-accumulate of every convolution in the pass (forward, backward-
// data, backward-filter: one convolution's worth each).  GFLOPS is per
// wall-clock second; GFLOPS_cpu per second of process CPU time (all threads),
// which stays meaningful on a machine shared with other jobs: on one thread
// it is the throughput of an uncontended core.
//
//   ./bench_conv --benchmark_filter='t1'     # one thread
//   ./bench_conv --benchmark_filter='t2'     # two threads
#include <benchmark/benchmark.h>

#include <ctime>
#include <ebm/nn/conv2d.hpp>
#include <string>
#include <vector>

namespace {

struct conv_shape {
  const char* name;
  ebm::index_t cin, cout, size, kernel, stride, padding;
};

// The convolutions of a 32x32 CF-EBM energy (Table 6 with c = 32): FromRGB,
// the Primal blocks' 3x3 and strided 3x3 layers, their 1x1 residual
// projections, and the top block's 3x3 and 4x4 layers.
const conv_shape shapes[] = {
    {"fromrgb_1x1_3to32_32px", 3, 32, 32, 1, 1, 0},
    {"3x3_32to32_32px", 32, 32, 32, 3, 1, 1},
    {"3x3s2_32to64_32px", 32, 64, 32, 3, 2, 1},
    {"1x1_32to64_32px", 32, 64, 32, 1, 1, 0},
    {"3x3_64to64_16px", 64, 64, 16, 3, 1, 1},
    {"3x3s2_64to128_16px", 64, 128, 16, 3, 2, 1},
    {"1x1_64to128_16px", 64, 128, 16, 1, 1, 0},
    {"3x3_128to128_8px", 128, 128, 8, 3, 1, 1},
    {"3x3s2_128to128_8px", 128, 128, 8, 3, 2, 1},
    {"3x3_128to128_4px", 128, 128, 4, 3, 1, 1},
    {"4x4_128to128_4px", 128, 128, 4, 4, 1, 0},
};
constexpr ebm::index_t batch = 64;

enum class pass { forward, input_grad, train };

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

void run(benchmark::State& state, const conv_shape& s, pass p, int threads) {
  using layer_t = ebm::nn::conv2d<float, ebm::cpu, ebm::act::swish>;
  layer_t layer(s.cin, s.cout, s.kernel, s.stride, s.padding, true, ebm::cpu(threads));
  ebm::tensor<float> x(ebm::shape{batch, s.cin, s.size, s.size});
  ebm::philox rng(7);
  rng.fill_uniform<float>(x.span(), -1.f, 1.f);
  const ebm::shape ys = layer.output_shape(x.shape());
  ebm::tensor<float> gy(ys);
  rng.fill_normal<float>(gy.span());

  const ebm::conv_geometry g = ebm::conv_geometry::make(x.shape(), s.cout, s.kernel, s.stride,
                                                        s.padding);
  const double convs = p == pass::forward ? 1 : p == pass::input_grad ? 2 : 3;
  const double flops = 2.0 * double(g.macs()) * convs;
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) {
    const auto& y = layer.forward(x);
    benchmark::DoNotOptimize(y.data());
    if (p == pass::input_grad) benchmark::DoNotOptimize(layer.backward(gy, ebm::grad::input).data());
    if (p == pass::train) benchmark::DoNotOptimize(layer.backward(gy, ebm::grad::both).data());
    benchmark::ClobberMemory();
  }
  const double cpu = process_cpu_seconds() - cpu0;
  state.counters["GFLOPS"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOPS_cpu"] = flops * 1e-9 * double(state.iterations()) / cpu;
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const std::pair<pass, const char*> passes[] = {
      {pass::forward, "fwd"}, {pass::input_grad, "fwd+gx"}, {pass::train, "fwd+gx+gw"}};
  for (int threads : {1, 2})
    for (const auto& [p, pname] : passes)
      for (const conv_shape& s : shapes) {
        const std::string name =
            std::string("conv/") + pname + "/" + s.name + "/t" + std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(), [&s, p = p, threads](benchmark::State& st) {
          run(st, s, p, threads);
        })->Unit(benchmark::kMillisecond)->UseRealTime();
      }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
