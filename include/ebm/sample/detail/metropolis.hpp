#pragma once
// Internals of the Metropolis-Hastings samplers (MALA, HMC): the energies and
// gradients of the current chain states, and the checks on proposals.
#include <cmath>
#include <limits>

#include "../../core/error.hpp"
#include "../../core/tensor.hpp"
#include "chain.hpp"

namespace ebm::detail {

template <class T>
struct mh_state {
  tensor<T> e, g;  ///< energies [N] and gradients (shape of x) at the current states

  /// Evaluates the start states; a non-finite start cannot be repaired by
  /// rejection, so it throws.
  template <class E>
  void evaluate(E& energy, const tensor<T>& x, const char* who, int step, int steps) {
    require_finite_chains(who, x, step, steps, "the start state");
    e = energy.energy_and_grad(x, g);
    require_same_shape(x.shape(), g.shape(), "sampler (gradient)");
    const index_t per = x.shape().sample_size();
    for (index_t c = 0; c < x.extent(0); ++c)
      if (!std::isfinite(e[c]) || !all_finite(g.data() + c * per, per))
        throw error(concat(who, ": chain ", c, " starts at a point with non-finite energy or gradient (energy ", e[c],
                           ") at step ", step, " of ", steps, " (steps counted from 0)"));
  }
};

/// Whether a proposal has left the representable range: a non-finite
/// position, an energy of +Inf, or a NaN energy at a position so large
/// (|x| > sqrt(max T)) that any quadratic energy overflows there and the NaN is
/// an artefact of inf - inf.  Such a proposal has zero density: reject it.
template <class T>
bool proposal_overflowed(const T* x, index_t per, T energy) {
  if (!all_finite(x, per) || energy == std::numeric_limits<T>::infinity()) return true;
  if (!std::isnan(energy)) return false;
  const T limit = std::sqrt(std::numeric_limits<T>::max());
  for (index_t i = 0; i < per; ++i)
    if (std::abs(x[i]) > limit) return true;
  return false;
}

/// A finite proposal whose energy is NaN or whose gradient is non-finite means
/// a broken energy: throw naming the chain and step.
template <class T>
void require_finite_proposal(const char* who, T energy, const T* g, index_t per, index_t chain, int step, int steps) {
  if (!std::isfinite(energy) || !all_finite(g, per))
    throw error(concat(who, ": chain ", chain, " produced a non-finite value (NaN or Inf) in the energy (", energy,
                       ") or gradient of its proposal at step ", step, " of ", steps, " (steps counted from 0)"));
}

}  // namespace ebm::detail
