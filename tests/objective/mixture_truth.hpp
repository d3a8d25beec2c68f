#pragma once
// Test helper: the 2-D Gaussian mixture the proof-of-learning tests learn
// (ebm::gaussian_mixture gives exact samples, density and score), its law
// after diffusion noising, and the grid on which a learned energy's
// normalised density is compared with the truth.
#include <algorithm>
#include <cmath>
#include <vector>

#include <ebm/energy/gaussian_mixture.hpp>

namespace ebm::test {

using mixture = gaussian_mixture<double>;

inline gaussian<double> blob(double x, double y, double sd) {
  gaussian<double>::vector m(2);
  m << x, y;
  return {m, gaussian<double>::matrix::Identity(2, 2) * (sd * sd)};
}

/// Four unequal, overlapping blobs: Langevin chains mix between them, so
/// maximum likelihood with persistent chains has a well-defined target.
inline mixture four_blobs() {
  return mixture({0.4, 0.3, 0.2, 0.1},
                 {blob(0.7, 0.7, 0.3), blob(-0.7, 0.7, 0.25), blob(-0.7, -0.7, 0.3), blob(0.7, -0.7, 0.35)});
}

/// The law of √ᾱ x0 + σ ε for x0 from m: every component N(μ, Σ) becomes
/// N(√ᾱ μ, ᾱ Σ + σ² I).
inline mixture noised(const mixture& m, double sqrt_alpha_bar, double sigma) {
  std::vector<double> w;
  std::vector<gaussian<double>> parts;
  for (index_t k = 0; k < m.components(); ++k) {
    const auto& c = m.component(k);
    w.push_back(m.weight(k));
    parts.emplace_back(sqrt_alpha_bar * c.mean(),
                       sqrt_alpha_bar * sqrt_alpha_bar * c.covariance() +
                           sigma * sigma * gaussian<double>::matrix::Identity(m.dim(), m.dim()));
  }
  return mixture(std::move(w), std::move(parts));
}

struct grid2d {
  double lo, hi;
  int n;

  /// The centres of the n × n cells, row by row from (lo, lo).
  tensor<double> points() const {
    tensor<double> x(shape{index_t(n) * n, 2});
    const double step = (hi - lo) / n;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        x(i * n + j, 0) = lo + (j + 0.5) * step;
        x(i * n + j, 1) = lo + (i + 0.5) * step;
      }
    return x;
  }

  /// ½ Σ |p − q| between exp(−E) and the truth, each normalised over the
  /// grid cells' centres.
  template <class Net>
  double total_variation(Net& net, mixture& truth) const {
    using T = typename Net::value_type;
    const tensor<double> x = points();
    const tensor<double> log_q = truth.log_density(x);
    const tensor<T> xt = tensor_cast<T>(x);
    const tensor<T>& e = net.forward(xt);
    double emin = e[0], lqmax = log_q[0];
    for (index_t k = 0; k < e.size(); ++k) emin = std::min(emin, double(e[k]));
    for (double v : log_q) lqmax = std::max(lqmax, v);
    std::vector<double> p(std::size_t(e.size())), q(p.size());
    double zp = 0, zq = 0;
    for (std::size_t k = 0; k < p.size(); ++k) {
      zp += (p[k] = std::exp(-(double(e[index_t(k)]) - emin)));
      zq += (q[k] = std::exp(log_q[index_t(k)] - lqmax));
    }
    double tv = 0;
    for (std::size_t k = 0; k < p.size(); ++k) tv += std::abs(p[k] / zp - q[k] / zq);
    return tv / 2;
  }
};

}  // namespace ebm::test
