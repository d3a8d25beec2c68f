#pragma once
// The area under the ROC curve of a score that should be larger on one set
// ("positives") than on another ("negatives"), e.g. an energy-based
// out-of-distribution detector scoring in- and out-of-distribution images.
//
// AUROC = P(s₊ > s₋) + ½ P(s₊ = s₋) over independent draws from the two sets,
// which is the Mann–Whitney statistic U / (n₊ n₋).  It is computed from the
// ranks of the pooled scores with tied scores sharing their average rank:
//
//   U = R₊ − n₊(n₊ + 1)/2,   R₊ = sum of the positives' ranks (1-based),
//
// in O(n log n).  1 means every positive scores above every negative, 0.5 a
// score that does not separate the sets, 0 a perfectly reversed score.  NaN
// scores are rejected (they have no rank).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "../core/error.hpp"

namespace ebm::eval {

/// AUROC of `positive` against `negative` (larger score = more positive).
template <class T>
double auroc(std::span<const T> positive, std::span<const T> negative) {
  const std::size_t np = positive.size(), nn = negative.size();
  EBM_REQUIRE(np > 0 && nn > 0, "auroc: both score sets must be non-empty, got ", np, " positives and ", nn,
              " negatives");
  std::vector<std::pair<double, bool>> all;  // (score, is positive)
  all.reserve(np + nn);
  for (const T s : positive) all.emplace_back(static_cast<double>(s), true);
  for (const T s : negative) all.emplace_back(static_cast<double>(s), false);
  for (const auto& [s, pos] : all)
    EBM_REQUIRE(!std::isnan(s), "auroc: a ", pos ? "positive" : "negative", " score is NaN");
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // Sum of the positives' ranks; a run of equal scores occupying ranks
  // i+1..j all get the average rank (i + 1 + j) / 2.
  double rank_sum = 0;
  for (std::size_t i = 0; i < all.size();) {
    std::size_t j = i;
    std::size_t positives_in_run = 0;
    while (j < all.size() && all[j].first == all[i].first) positives_in_run += all[j++].second;
    rank_sum += double(positives_in_run) * 0.5 * double(i + 1 + j);
    i = j;
  }
  const double u = rank_sum - 0.5 * double(np) * double(np + 1);
  return u / (double(np) * double(nn));
}

template <class T>
double auroc(const std::vector<T>& positive, const std::vector<T>& negative) {
  return auroc<T>(std::span<const T>(positive), std::span<const T>(negative));
}

}  // namespace ebm::eval
