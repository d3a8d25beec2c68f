// Google Benchmark programs for the CUDA backend: GEMM, an activation
// kernel, Philox fills, cuDNN convolution passes, the one-launch Gaussian
// Langevin kernel, and a short-run network chain eager vs replayed as a CUDA
// graph.  Times are GPU times measured with CUDA events (manual timing).
// Without a GPU the program says so and exits with status 0.
//
//   ./build/bench/cuda_kernels --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <ebm/device/cuda/cuda.cuh>
#include <ebm/nn/conv2d.hpp>
#include <ebm/nn/linear.hpp>
#include <ebm/nn/sequential.hpp>

#include "gpu_timing.cuh"

using namespace ebm;
using ebm::bench::time_gpu;

namespace {


template <class T>
tensor<T, cuda> random_tensor(const shape& s, std::uint64_t seed) {
  tensor<T, cuda> t(s);
  philox rng(seed);
  fill_uniform(t, rng, T(-1), T(1));
  return t;
}

void BM_gemm_float(benchmark::State& st) {
  const cuda dev;
  const index_t n = st.range(0);
  const auto a = random_tensor<float>(shape{n, n}, 1), b = random_tensor<float>(shape{n, n}, 2);
  tensor<float, cuda> c(shape{n, n});
  time_gpu(st, dev, [&] {
    blas<cuda>::gemm(dev, false, true, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  });
  st.counters["FLOP/s"] = benchmark::Counter(2.0 * double(n) * double(n) * double(n),
                                             benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_gemm_float)->Arg(256)->Arg(1024)->Arg(4096)->UseManualTime()->Unit(benchmark::kMicrosecond);

void BM_swish_forward(benchmark::State& st) {
  const cuda dev;
  const index_t n = st.range(0);
  const auto x = random_tensor<float>(shape{n}, 3);
  tensor<float, cuda> y(shape{n}), d(shape{n});
  time_gpu(st, dev, [&] {
    elementwise<cuda>::act_forward(dev, act::swish{}, x.data(), y.data(), d.data(), n);
  });
  st.SetBytesProcessed(int64_t(st.iterations()) * n * 3 * int64_t(sizeof(float)));
}
BENCHMARK(BM_swish_forward)->Arg(1 << 20)->Arg(1 << 24)->UseManualTime()->Unit(benchmark::kMicrosecond);

void BM_fill_normal(benchmark::State& st) {
  const cuda dev;
  const index_t n = st.range(0);
  tensor<float, cuda> z(shape{n});
  philox rng(4);
  time_gpu(st, dev, [&] { fill_normal(z, rng); });
  st.SetItemsProcessed(int64_t(st.iterations()) * n);
}
BENCHMARK(BM_fill_normal)->Arg(1 << 20)->Arg(1 << 24)->UseManualTime()->Unit(benchmark::kMicrosecond);

/// CF-EBM's workhorse: 3x3 "same" convolution, 64 -> 64 channels, 32x32,
/// batch 64, fused with swish.
conv_geometry cfebm_conv() { return conv_geometry::make(shape{64, 64, 32, 32}, 64, 3, 1, 1); }

void BM_conv_forward_swish(benchmark::State& st) {
  const cuda dev;
  const conv_geometry g = cfebm_conv();
  const auto x = random_tensor<float>(g.input_shape(), 5), w = random_tensor<float>(shape{64, 64, 3, 3}, 6);
  const auto b = random_tensor<float>(shape{64}, 7);
  tensor<float, cuda> y(g.output_shape()), z(g.output_shape()), d(g.output_shape());
  conv_kernels<cuda>::workspace<float> ws;
  time_gpu(st, dev, [&] {
    conv_kernels<cuda>::forward(dev, g, x.data(), w.data(), b.data(), act::swish{}, y.data(),
                                z.data(), d.data(), ws);
  });
  st.counters["FLOP/s"] = benchmark::Counter(2.0 * double(g.macs()),
                                             benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_conv_forward_swish)->UseManualTime()->Unit(benchmark::kMicrosecond);

void BM_conv_backward(benchmark::State& st) {
  const cuda dev;
  const conv_geometry g = cfebm_conv();
  const auto x = random_tensor<float>(g.input_shape(), 5), w = random_tensor<float>(shape{64, 64, 3, 3}, 6);
  const auto gy = random_tensor<float>(g.output_shape(), 8), d = random_tensor<float>(g.output_shape(), 9);
  tensor<float, cuda> gx(g.input_shape()), gw(shape{64, 64, 3, 3}), gb(shape{64});
  conv_kernels<cuda>::workspace<float> ws;
  const bool params = st.range(0) != 0;
  time_gpu(st, dev, [&] {
    conv_kernels<cuda>::backward(dev, g, x.data(), w.data(), gy.data(), d.data(), gx.data(),
                                 params ? gw.data() : nullptr, params ? gb.data() : nullptr, ws);
  });
  st.SetLabel(params ? "input and parameter gradients" : "input gradient only (sampling)");
}
BENCHMARK(BM_conv_backward)->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMicrosecond);

/// The host's cost per call on a tiny convolution (batch 8, 32 channels,
/// 8x8), where the GPU work is a few microseconds and host_ms is what
/// counts: cuDNN's legacy cudnnConvolutionForward / BackwardData called
/// directly with fixed descriptors (Arg 0, 1), the same passes through
/// conv_kernels<cuda> (Arg 2, 3), and one elementwise kernel launch (Arg 4).
void BM_launch_overhead(benchmark::State& st) {
  const cuda dev;
  const conv_geometry g = conv_geometry::make(shape{8, 32, 8, 8}, 32, 3, 1, 1);
  const auto x = random_tensor<float>(g.input_shape(), 5), w = random_tensor<float>(shape{32, 32, 3, 3}, 6);
  tensor<float, cuda> y(g.output_shape()), gx(g.input_shape());
  conv_kernels<cuda>::workspace<float> ws;
  // Prime the plan (descriptors and algorithms) through the library once.
  conv_kernels<cuda>::conv_forward(dev, g, x.data(), w.data(), y.data(), ws);
  conv_kernels<cuda>::conv_backward_data(dev, g, w.data(), y.data(), gx.data(), ws);
  auto& p = ws.plan(dev, g);
  void* fwd_scratch = ws.scratch(dev, std::max(p.fwd_algo.bytes, p.bwd_data_algo.bytes));
  const float one = 1.0f, zero = 0.0f;
  const cudnnHandle_t h = dev.cudnn();
  switch (st.range(0)) {
    case 0:
      time_gpu(st, dev, [&] {
        EBM_CUDNN_CHECK(cudnnConvolutionForward(h, &one, p.x.get(), x.data(), p.w.get(), w.data(), p.fwd.get(),
                                                static_cast<cudnnConvolutionFwdAlgo_t>(p.fwd_algo.algo),
                                                fwd_scratch, p.fwd_algo.bytes, &zero, p.y.get(), y.data()));
      });
      st.SetLabel("cudnnConvolutionForward");
      break;
    case 1:
      time_gpu(st, dev, [&] {
        EBM_CUDNN_CHECK(cudnnConvolutionBackwardData(
            h, &one, p.w.get(), w.data(), p.y.get(), y.data(), p.bwd_data.get(),
            static_cast<cudnnConvolutionBwdDataAlgo_t>(p.bwd_data_algo.algo), fwd_scratch, p.bwd_data_algo.bytes,
            &zero, p.x.get(), gx.data()));
      });
      st.SetLabel("cudnnConvolutionBackwardData");
      break;
    case 2:
      time_gpu(st, dev, [&] { conv_kernels<cuda>::conv_forward(dev, g, x.data(), w.data(), y.data(), ws); });
      st.SetLabel("conv_kernels<cuda>::conv_forward");
      break;
    case 3:
      time_gpu(st, dev,
               [&] { conv_kernels<cuda>::conv_backward_data(dev, g, w.data(), y.data(), gx.data(), ws); });
      st.SetLabel("conv_kernels<cuda>::conv_backward_data");
      break;
    default:
      time_gpu(st, dev,
               [&] { elementwise<cuda>::act_forward(dev, act::swish{}, x.data(), y.data(), gx.data(), x.size()); });
      st.SetLabel("one elementwise kernel");
  }
}
BENCHMARK(BM_launch_overhead)->DenseRange(0, 4)->UseManualTime()->Unit(benchmark::kMicrosecond);

void BM_gaussian_langevin(benchmark::State& st) {
  const cuda dev;
  const index_t N = 4096, D = st.range(0);
  const int steps = 100;
  tensor<float> P(shape{D, D}), mu(shape{D});
  for (index_t i = 0; i < D; ++i) {
    mu[i] = 0.0f;
    for (index_t j = 0; j < D; ++j) P(i, j) = i == j ? 1.0f : (i + 1 == j || j + 1 == i ? -0.4f : 0.0f);
  }
  const auto Pd = to_device(P), mud = to_device(mu);
  auto x = random_tensor<float>(shape{N, D}, 10);
  philox rng(11);
  time_gpu(st, dev, [&] {
    gaussian_langevin(x, mud, Pd, steps, schedule::constant<float>(0.05f),
                      schedule::constant<float>(0.05f), rng);
  });
  st.SetItemsProcessed(int64_t(st.iterations()) * N * steps);  // chain steps
}
BENCHMARK(BM_gaussian_langevin)->Arg(16)->Arg(64)->Arg(256)->UseManualTime()->Unit(benchmark::kMicrosecond);

/// A small CF-EBM-like energy on 32x32 RGB images.
auto chain_net() {
  return nn::sequential{nn::conv2d<float, cuda, act::swish>(3, 32, 3, 1, 1),
                        nn::conv2d<float, cuda, act::swish>(32, 64, 4, 2, 1),
                        nn::conv2d<float, cuda, act::swish>(64, 64, 4, 2, 1),
                        nn::linear<float, cuda>(64 * 8 * 8, 1)};
}

void BM_short_run_chain(benchmark::State& st) {
  const cuda dev;
  const bool graph = st.range(0) != 0;
  auto net = chain_net();
  const auto x0 = random_tensor<float>(shape{64, 3, 32, 32}, 12);
  tensor<float, cuda> x(x0);
  cuda_langevin_chain chain(net, 20, schedule::constant<float>(1.0f),
                            schedule::cf_ebm_decay<float>(2e-2f), philox(13));
  const auto reset = [&] {
    EBM_CUDA_CHECK(cudaMemcpyAsync(x.data(), x0.data(), sizeof(float) * std::size_t(x0.size()),
                                   cudaMemcpyDeviceToDevice, dev.stream()));
  };
  if (graph) {
    cuda_graph g = chain.capture(x);
    time_gpu(st, dev, [&] { g.launch(); }, reset);
    st.SetLabel("CUDA graph replay, 20 steps");
  } else {
    time_gpu(st, dev, [&] { chain.run(x); }, reset);
    st.SetLabel("eager, 20 steps");
  }
  st.SetItemsProcessed(int64_t(st.iterations()) * 20);  // Langevin steps
}
BENCHMARK(BM_short_run_chain)->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  if (cuda::device_count() == 0) {
    std::puts("no CUDA device: skipping the CUDA benchmarks");
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
