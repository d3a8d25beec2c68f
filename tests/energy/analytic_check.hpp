#pragma once
// Test helpers for the analytic energies: gradients against central finite
// differences, and the normalisation of exp(-E) on a 2-D grid.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>

#include <ebm/core/philox.hpp>
#include <ebm/core/tensor.hpp>

namespace ebm::test {

/// grad E against (E(x + h e_j) - E(x - h e_j)) / 2h at random points (double).
/// Central differences with h = 1e-5 have truncation error ~h^2 |E'''| and
/// rounding error ~1e-16 |E| / h; 1e-6 relative to (1 + |g|) covers both.
template <class E>
void check_energy_gradient(E& energy, index_t dim, double spread = 1.5, std::uint64_t seed = 1) {
  philox rng(seed);
  tensor<double> x(shape{6, dim});
  rng.fill_normal(x.span(), 0.0, spread);
  tensor<double> g;
  const tensor<double> e0(energy.energy_and_grad(x, g));
  const double h = 1e-5;
  for (index_t i = 0; i < 6; ++i)
    for (index_t j = 0; j < dim; ++j) {
      tensor<double> xp = x, xm = x;
      xp(i, j) += h;
      xm(i, j) -= h;
      const double fd = (energy.energy(xp)[i] - energy.energy(xm)[i]) / (2 * h);
      CHECK(g(i, j) == doctest::Approx(fd).epsilon(1e-6).scale(1 + std::abs(fd)));
    }
  // energy() and energy_and_grad() agree.
  const tensor<double>& e1 = energy.energy(x);
  for (index_t i = 0; i < 6; ++i) CHECK(e1[i] == e0[i]);
}

/// Integral of exp(-E) over [lo, hi]^2 by the midpoint rule (2-D energies).
/// The integrands are smooth and negligible at the box's edges, so the rule
/// converges fast; 400^2 points give ~1e-6 accuracy for these targets.
template <class E>
double integrate_2d(E& energy, double lo, double hi, index_t n = 400) {
  const double h = (hi - lo) / double(n);
  tensor<double> x(shape{n, 2});
  double total = 0;
  for (index_t a = 0; a < n; ++a) {
    for (index_t b = 0; b < n; ++b) {
      x(b, 0) = lo + (double(a) + 0.5) * h;
      x(b, 1) = lo + (double(b) + 0.5) * h;
    }
    const tensor<double>& e = energy.energy(x);
    for (index_t b = 0; b < n; ++b) total += std::exp(-e[b]) * h * h;
  }
  return total;
}

}  // namespace ebm::test
