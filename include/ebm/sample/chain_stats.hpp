#pragma once
// chain_stats: what one run of a sampler reports.
//
// Every sampler's run() returns one.  Gradient evaluations are counted per
// batch call (one call evaluates every chain), so cost comparisons between
// samplers are per chain.  Metropolis-adjusted samplers (MALA, HMC) fill
// `accepted` with one count per chain; unadjusted Langevin leaves it empty.
#include <cstddef>
#include <numeric>
#include <vector>

#include "../core/config.hpp"
#include "../core/error.hpp"

namespace ebm {

/// The default per-step observer of a sampler's run(): does nothing.  An
/// observer is called as on_step(t, x) after step (iteration) t with the
/// chains' current states, e.g. to record traces or snapshots without
/// splitting a run into one-step runs (which would re-evaluate the start of
/// each for MALA and HMC).
struct no_observer {
  template <class X>
  void operator()(int, const X&) const {}
};

struct chain_stats {
  index_t steps = 0;       ///< iterations (Langevin steps, MH proposals) per chain
  index_t grad_evals = 0;  ///< batched energy_and_grad calls
  index_t clipped = 0;     ///< per-sample gradients shortened by the norm guard
  index_t divergent = 0;   ///< proposals rejected for a non-finite position or +Inf energy
  std::vector<index_t> accepted;  ///< accepted proposals per chain (MH samplers)

  index_t chains() const { return static_cast<index_t>(accepted.size()); }
  /// Fraction of accepted proposals over all chains (1 for unadjusted samplers).
  double acceptance_rate() const {
    if (accepted.empty() || steps == 0) return 1.0;
    const double total = static_cast<double>(std::accumulate(accepted.begin(), accepted.end(), index_t(0)));
    return total / (static_cast<double>(steps) * static_cast<double>(accepted.size()));
  }
  /// Fraction of accepted proposals of one chain.
  double acceptance_rate(index_t chain) const {
    if (accepted.empty() || steps == 0) return 1.0;
    EBM_REQUIRE(chain >= 0 && chain < chains(), "chain_stats::acceptance_rate: chain ", chain,
                " out of range [0, ", chains(), ")");
    return static_cast<double>(accepted[static_cast<std::size_t>(chain)]) / static_cast<double>(steps);
  }
};

}  // namespace ebm
