// Sampler efficiency on targets with exact answers: unadjusted Langevin
// (ULA), MALA and HMC with two trajectory lengths on a 2-D banana, a 2-D
// Gaussian mixture and 64-/128-D correlated Gaussians (AR(1), rho = 0.5).
//
// Each benchmark iteration runs 32 parallel chains from U(-3, 3): a warm-up
// (not timed) and then the timed draws, recording every coordinate after
// each iteration.  Counters (ESS = effective sample size, Stan's multi-chain
// estimator with Geyer's initial monotone sequence, sample/diagnostics.hpp):
//
//   ess          min over coordinates of the ESS of the draws (all chains)
//   ess_per_s    ess / timed seconds
//   ess_per_kgrad ess per 1000 gradient evaluations of one chain
//   accept       acceptance rate (1 for ULA)
//   var_err      |pooled variance of x_1 / true variance - 1|: ULA's bias
//                shows here (Monte Carlo noise ~ sqrt(2 / ess))
//
// Step sizes were set once by hand (a few trial values per target, keeping
// acceptance in the usual ranges: MALA ~0.6-0.9, HMC ~0.9-1).  HMC draws its
// step per iteration within +-30% (hmc::jitter) and runs L = 5 and L = 20 with
// the same step, on the same budget of gradient evaluations as MALA.  ULA
// uses MALA's step, so that the cost of the Metropolis correction and the
// bias it removes can be compared; on the banana, whose gradient grows like
// |x_1|^3, ULA is transient at any fixed step (Roberts and Tweedie 1996) and
// diverged in trial runs even at s = 0.03, so it runs "tamed" there, with the
// per-sample gradient-norm guard at 10 (langevin::clip_grad_norm).
//
//   ./bench_samplers                                  # the table in docs/samplers.md
//   ./bench_samplers --benchmark_filter='gauss128'
#include <benchmark/benchmark.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include <ebm/energy/banana.hpp>
#include <ebm/energy/gaussian.hpp>
#include <ebm/energy/gaussian_mixture.hpp>
#include <ebm/sample/diagnostics.hpp>
#include <ebm/sample/hmc.hpp>
#include <ebm/sample/initializers.hpp>
#include <ebm/sample/langevin.hpp>
#include <ebm/sample/mala.hpp>

namespace {

using ebm::index_t;
constexpr index_t chains = 32;

struct sampler_config {
  enum kind { ula, mala, hmc } k;
  double step;
  int leapfrog = 1;
  int warmup, draws;
  double clip = 0;  // ULA's gradient-norm guard (0 = off)
};

ebm::gaussian_mixture<double> mixture2() {
  Eigen::MatrixXd c0(2, 2), c1(2, 2);
  Eigen::VectorXd m0(2), m1(2);
  c0 << 0.6, 0.2, 0.2, 0.4;
  c1 << 0.5, -0.15, -0.15, 0.7;
  m0 << -1.5, 0.0;
  m1 << 1.2, 0.8;
  return ebm::gaussian_mixture<double>({0.35, 0.65}, {ebm::gaussian<double>(m0, c0), ebm::gaussian<double>(m1, c1)});
}

// `iterations` iterations of the configured sampler on all chains, calling
// on_step(t, x) after each.
template <class E, class Observer = ebm::no_observer>
ebm::chain_stats advance(E& target, ebm::tensor<double>& x, const sampler_config& c, int iterations, ebm::philox& rng,
                         Observer&& on_step = {}) {
  switch (c.k) {
    case sampler_config::ula: {
      auto s = ebm::unadjusted_langevin(c.step);
      if (c.clip > 0) s.clip_grad_norm(c.clip);
      return s.run(target, x, iterations, rng, {}, on_step);
    }
    case sampler_config::mala: return ebm::mala<double>(c.step).run(target, x, iterations, rng, {}, on_step);
    default: {
      ebm::hmc<double> s(c.step, c.leapfrog);
      s.jitter(0.3);
      return s.run(target, x, iterations, rng, {}, on_step);
    }
  }
}

template <class E>
void run(benchmark::State& state, E target, sampler_config c) {
  const index_t d = target.dim();
  const double var0 = target.covariance()(0, 0), mean0 = target.mean()(0);
  double ess_total = 0, min_ess = 0, accept = 0, var_err = 0;
  index_t grads = 0;
  std::uint64_t seed = 1;
  std::vector<std::vector<double>> trace(static_cast<std::size_t>(d));
  for (auto _ : state) {
    state.PauseTiming();
    ebm::philox rng(seed++);
    ebm::tensor<double> x;
    ebm::init::uniform_noise<double>(ebm::shape{d}, -3, 3).initialize(x, chains, rng);
    advance(target, x, c, c.warmup, rng);
    for (auto& t : trace) t.assign(static_cast<std::size_t>(c.draws * chains), 0.0);
    state.ResumeTiming();
    const ebm::chain_stats st = advance(target, x, c, c.draws, rng, [&](int it, const ebm::tensor<double>& xs) {
      for (index_t m = 0; m < chains; ++m)
        for (index_t j = 0; j < d; ++j)
          trace[static_cast<std::size_t>(j)][static_cast<std::size_t>(it * chains + m)] = xs(m, j);
    });
    state.PauseTiming();
    grads += st.grad_evals;
    min_ess = 1e300;
    for (const auto& t : trace) min_ess = std::min(min_ess, ebm::effective_sample_size(t, c.draws, chains));
    ess_total += min_ess;
    accept = st.acceptance_rate();
    double v = 0;
    for (double s : trace[0]) v += (s - mean0) * (s - mean0);
    var_err = std::abs(v / double(trace[0].size()) / var0 - 1);
    state.ResumeTiming();
  }
  state.counters["ess"] = min_ess;
  state.counters["ess_per_s"] = benchmark::Counter(ess_total, benchmark::Counter::kIsRate);
  state.counters["ess_per_kgrad"] = 1000.0 * ess_total / (double(grads) * double(chains));
  state.counters["accept"] = accept;
  state.counters["var_err"] = var_err;
}

struct target_entry {
  std::string name;
  std::function<void(benchmark::State&, sampler_config)> fn;
  double ula_clip, mala_step, hmc_step;
  int warmup, draws;
};

}  // namespace

int main(int argc, char** argv) {
  const std::vector<target_entry> targets = {
      {"banana2", [](benchmark::State& s, sampler_config c) { run(s, ebm::banana<double>(2, 1.0, 1.0), c); }, 10.0,
       0.2, 0.2, 1000, 4000},
      {"mixture2", [](benchmark::State& s, sampler_config c) { run(s, mixture2(), c); }, 0.0, 0.6, 0.4, 500, 4000},
      {"gauss64", [](benchmark::State& s, sampler_config c) { run(s, ebm::gaussian<double>::ar1(64, 0.5), c); },
       0.0, 0.25, 0.2, 500, 2000},
      {"gauss128", [](benchmark::State& s, sampler_config c) { run(s, ebm::gaussian<double>::ar1(128, 0.5), c); },
       0.0, 0.2, 0.15, 500, 2000},
  };
  for (const auto& t : targets) {
    const std::vector<std::pair<std::string, sampler_config>> samplers = {
        {"ULA", {sampler_config::ula, t.mala_step, 1, t.warmup, t.draws, t.ula_clip}},
        {"MALA", {sampler_config::mala, t.mala_step, 1, t.warmup, t.draws}},
        {"HMC_L5", {sampler_config::hmc, t.hmc_step, 5, t.warmup / 5, t.draws / 5}},
        {"HMC_L20", {sampler_config::hmc, t.hmc_step, 20, t.warmup / 20, t.draws / 20}},
    };
    for (const auto& [name, cfg] : samplers)
      benchmark::RegisterBenchmark((t.name + "/" + name).c_str(),
                                   [fn = t.fn, cfg](benchmark::State& s) {
                                     try {
                                       fn(s, cfg);
                                     } catch (const ebm::error& e) {
                                       s.SkipWithError(e.what());
                                     }
                                   })
          ->Unit(benchmark::kMillisecond)
          ->Iterations(3);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
