// Shared by the CUDA benchmarks (bench/cuda_*.cu): GPU time of work queued on
// a stream, measured with CUDA events and reported to Google Benchmark as
// manual time (register the benchmark with UseManualTime()).
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>

#include <ebm/device/cuda/cuda.cuh>

namespace ebm::bench {

/// Times f() (work queued on dev's stream) per iteration with CUDA events,
/// and reports the host's enqueue time as the counter host_ms; setup() runs
/// before each timed region, untimed.  One untimed call first
/// warms up cuDNN plans, buffers and lazily loaded modules.
template <class F, class S>
void time_gpu(benchmark::State& st, const cuda& dev, F&& f, S&& setup) {
  setup();
  f();
  dev.synchronize();
  cudaEvent_t start, stop;
  EBM_CUDA_CHECK(cudaEventCreate(&start));
  EBM_CUDA_CHECK(cudaEventCreate(&stop));
  double host_s = 0;
  for (auto _ : st) {
    setup();
    EBM_CUDA_CHECK(cudaEventRecord(start, dev.stream()));
    const auto t0 = std::chrono::steady_clock::now();
    f();
    host_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EBM_CUDA_CHECK(cudaEventRecord(stop, dev.stream()));
    EBM_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    EBM_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    st.SetIterationTime(double(ms) * 1e-3);
  }
  // The host's time to enqueue f() (no synchronisation inside): when it is
  // close to the GPU time, the work is launch-bound and a CUDA graph helps.
  st.counters["host_ms"] = benchmark::Counter(1e3 * host_s / double(st.iterations()));
  EBM_CUDA_CHECK(cudaEventDestroy(start));
  EBM_CUDA_CHECK(cudaEventDestroy(stop));
}
template <class F>
void time_gpu(benchmark::State& st, const cuda& dev, F&& f) {
  time_gpu(st, dev, f, [] {});
}

}  // namespace ebm::bench
