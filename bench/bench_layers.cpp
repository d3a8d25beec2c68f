// The element-wise and normalisation layers of the EGC UNet, each pass on its
// own, on the shapes of the c = 32 network at batch 64: group normalisation
// (8 groups) and the standalone Swish layer, forward, backward, forward
// tangent and backward tangent.  These were the layers the EGC training step
// lost its time in before they were vectorised (docs/performance.md).  The
// GB/s counter counts the bytes a pass must read and write once.
//
//   ./bench_layers --benchmark_filter='t1'     # one thread
//   ./bench_layers --benchmark_filter='t2'     # two threads
#include <benchmark/benchmark.h>

#include <ebm/core/philox.hpp>
#include <ebm/nn/elementwise.hpp>
#include <ebm/nn/group_norm.hpp>
#include <string>

namespace {

using tensor = ebm::tensor<float>;

struct plane_shape {
  const char* name;
  ebm::index_t channels, size;
};
const plane_shape shapes[] = {{"64x32x32x32", 32, 32}, {"64x64x16x16", 64, 16}, {"64x64x8x8", 64, 8}};

tensor random(const ebm::shape& s, std::uint64_t seed) {
  tensor t(s);
  ebm::philox rng(seed);
  rng.fill_normal<float>(t.span());
  return t;
}

enum class pass { forward, backward, forward_tangent, backward_tangent };
const char* pass_name(pass p) {
  switch (p) {
    case pass::forward: return "fwd";
    case pass::backward: return "bwd";
    case pass::forward_tangent: return "fwd_tangent";
    default: return "bwd_tangent";
  }
}

// Runs the passes up to p once (so the state p needs exists), then times p.
template <class Layer>
void run(benchmark::State& st, Layer& layer, const plane_shape& ps, pass p, double streams) {
  const ebm::shape s{64, ps.channels, ps.size, ps.size};
  const tensor x = random(s, 1), gy = random(s, 2), dx = random(s, 3), dgy = random(s, 4);
  layer.forward(x);
  layer.backward(gy, ebm::grad::both);
  layer.forward_tangent(dx);
  layer.backward_tangent(dgy, ebm::grad::both);
  for (auto _ : st) {
    switch (p) {
      case pass::forward: benchmark::DoNotOptimize(layer.forward(x).data()); break;
      case pass::backward: benchmark::DoNotOptimize(layer.backward(gy, ebm::grad::both).data()); break;
      case pass::forward_tangent: benchmark::DoNotOptimize(layer.forward_tangent(dx).data()); break;
      case pass::backward_tangent:
        benchmark::DoNotOptimize(layer.backward_tangent(dgy, ebm::grad::both).data());
        break;
    }
  }
  st.counters["GB/s"] = benchmark::Counter(streams * 4.0 * double(s.size()), benchmark::Counter::kIsIterationInvariantRate);
}

// Arrays of the tensor's size each pass reads or writes at least once.
double gn_streams(pass p) {
  switch (p) {
    case pass::forward: return 3;           // x; xh, y
    case pass::backward: return 3;          // gy, xh; gx
    case pass::forward_tangent: return 4;   // dx, xh; dxh, dy
    default: return 5;                      // dgy, gy, xh, dxh; dgx
  }
}
double swish_streams(pass p) {
  switch (p) {
    case pass::forward: return 3;           // x; y, f'
    case pass::backward: return 3;          // gy, f'; gx
    case pass::forward_tangent: return 3;   // dx, f'; dy
    default: return 6;                      // x, f', dx, gy, dgy; dgx
  }
}

void register_all() {
  for (int threads : {1, 2})
    for (const plane_shape& ps : shapes)
      for (pass p : {pass::forward, pass::backward, pass::forward_tangent, pass::backward_tangent}) {
        const std::string suffix = std::string(pass_name(p)) + "/" + ps.name + "/t" + std::to_string(threads);
        benchmark::RegisterBenchmark(("group_norm/" + suffix).c_str(), [=](benchmark::State& st) {
          ebm::nn::group_norm<float> gn(ps.channels, 8, 1e-5f, ebm::cpu(threads));
          run(st, gn, ps, p, gn_streams(p));
        })->UseRealTime()->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("swish/" + suffix).c_str(), [=](benchmark::State& st) {
          ebm::nn::swish<float> sw(ebm::act::swish{}, ebm::cpu(threads));
          run(st, sw, ps, p, swish_streams(p));
        })->UseRealTime()->Unit(benchmark::kMillisecond);
      }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
