// The machine's floating-point peak, measured: independent chains of fused
// multiply-adds on the widest float vectors the build targets (AVX-512, else
// AVX2 + FMA, else scalar), on 1 and 2 threads.  docs/performance.md divides
// the convolution rates of bench_cfebm and PyTorch by this figure instead of
// a nominal clock, which a virtual machine does not report reliably.
//
//   build/release/bench/bench_peak
#include <benchmark/benchmark.h>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace {

// 12 independent accumulators: more than FMA latency (4 cycles) times the
// FMA pipes (2) of current x86 cores, so the chains never wait on each other.
constexpr int chains = 12;

#if defined(__AVX512F__)
constexpr int lanes = 16;
using vec = __m512;
inline vec splat(float v) { return _mm512_set1_ps(v); }
inline vec fma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float lane0(vec v) { return _mm512_cvtss_f32(v); }
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int lanes = 8;
using vec = __m256;
inline vec splat(float v) { return _mm256_set1_ps(v); }
inline vec fma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float lane0(vec v) { return _mm256_cvtss_f32(v); }
#else
constexpr int lanes = 1;
using vec = float;
inline vec splat(float v) { return v; }
inline vec fma(vec a, vec b, vec c) { return a * b + c; }
inline float lane0(vec v) { return v; }
#endif

void BM_fma_peak(benchmark::State& state) {
  constexpr long inner = 1 << 16;
  vec acc[chains];
  for (int i = 0; i < chains; ++i) acc[i] = splat(1.0f + 1e-3f * static_cast<float>(i));
  // x <- x b + c converges to c / (1 - b): the values stay finite.
  const vec b = splat(0.999999f), c = splat(1e-7f);
  for (auto _ : state) {
    for (long it = 0; it < inner; ++it) {
#pragma GCC unroll 12
      for (int i = 0; i < chains; ++i) acc[i] = fma(acc[i], b, c);
    }
    benchmark::DoNotOptimize(acc);
  }
  float sum = 0;
  for (int i = 0; i < chains; ++i) sum += lane0(acc[i]);
  benchmark::DoNotOptimize(sum);
  const double flops = 2.0 * lanes * chains * static_cast<double>(inner);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * static_cast<double>(state.iterations()) / 1e9,
                                                 benchmark::Counter::kIsRate);
  state.SetLabel(lanes == 16 ? "AVX-512" : lanes == 8 ? "AVX2+FMA" : "scalar");
}
BENCHMARK(BM_fma_peak)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
