#pragma once
// Test helper: the gradient an objective accumulated into a network's
// parameter buffers against central finite differences of its loss, over
// every parameter coordinate (the test networks are small), in double.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <ebm/nn/layer.hpp>

namespace ebm::test {

struct gradient_error {
  double max_relative = 0;  ///< max |analytic − numeric| / max |numeric| over all coordinates
  double scale = 0;         ///< max |numeric|
  std::string worst;        ///< where the largest error is
};

/// `accumulate(net)` adds ∇θ L into the zeroed gradient buffers; `loss(net)`
/// returns L without touching them.
template <class Net>
gradient_error compare_with_finite_differences(Net& net, const std::function<void(Net&)>& accumulate,
                                               const std::function<double(Net&)>& loss,
                                               double h = 1e-5) {
  zero_grad(net);
  accumulate(net);
  auto params = collect_params(net);
  std::vector<tensor<double>> analytic, numeric;
  for (auto& p : params) analytic.emplace_back(*p.grad);
  for (auto& p : params) {
    tensor<double> fd(p.value->shape());
    for (index_t i = 0; i < p.value->size(); ++i) {
      const double w = (*p.value)[i];
      (*p.value)[i] = w + h;
      const double lp = loss(net);
      (*p.value)[i] = w - h;
      const double lm = loss(net);
      (*p.value)[i] = w;
      fd[i] = (lp - lm) / (2 * h);
    }
    numeric.push_back(std::move(fd));
  }
  gradient_error r;
  for (auto& t : numeric)
    for (double v : t) r.scale = std::max(r.scale, std::abs(v));
  double worst_abs = -1;
  for (std::size_t p = 0; p < params.size(); ++p)
    for (index_t i = 0; i < numeric[p].size(); ++i) {
      const double e = std::abs(analytic[p][i] - numeric[p][i]);
      if (e > worst_abs) {
        worst_abs = e;
        r.worst = params[p].name + "[" + std::to_string(i) + "]: analytic " +
                  std::to_string(analytic[p][i]) + ", numeric " + std::to_string(numeric[p][i]);
      }
    }
  r.max_relative = worst_abs / std::max(r.scale, 1e-12);
  return r;
}

}  // namespace ebm::test
