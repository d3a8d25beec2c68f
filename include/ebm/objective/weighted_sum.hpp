#pragma once
// Weighted sums of objectives, L = Σ_k w_k L_k (EGC's Fisher term plus
// γ·cross-entropy, a likelihood term plus a regulariser).
//
// Objectives take different inputs (data and samples, a clean batch and a
// generator, inputs and labels), so a term is a callable that binds them:
// it receives its weight, adds weight·∇θ L_k to the gradient buffers and
// returns its unweighted L_k — the convention every ebm objective follows
// through its trailing `weight` argument.  Terms run in the order they were
// added, so a later term may reuse what an earlier one produced (the noised
// batch of denoising_fisher).
//
//   objective::weighted_sum<float> loss;
//   loss.add("fisher", 1.0f, [&](float w) { return fisher(net, x0, rng, w); })
//       .add("ce", gamma, [&](float w) { return ce(classifier, fisher.noised(), y, w); });
//   zero_grad(net);
//   float total = loss();            // Σ w_k L_k; loss.value("ce") for logs
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/error.hpp"

namespace ebm::objective {

template <class T = float>
class weighted_sum {
 public:
  using value_type = T;
  /// Adds weight·∇θ L to the gradients and returns L.
  using term_function = std::function<T(T weight)>;

  struct term {
    std::string name;
    T weight;
    term_function fn;
    T value = T(0);  ///< unweighted L_k of the last evaluation
  };

  weighted_sum& add(std::string name, T weight, term_function fn) {
    EBM_REQUIRE(static_cast<bool>(fn), "weighted_sum: term '", name, "' has no function");
    EBM_REQUIRE(!contains(name), "weighted_sum: a term named '", name, "' exists already");
    terms_.push_back({std::move(name), weight, std::move(fn)});
    return *this;
  }

  /// Evaluates every term in order; returns Σ_k w_k L_k.
  T operator()() {
    T total = T(0);
    for (auto& t : terms_) {
      t.value = t.fn(t.weight);
      total += t.weight * t.value;
    }
    return total;
  }

  std::size_t size() const { return terms_.size(); }
  const std::vector<term>& terms() const { return terms_; }
  T weight(std::string_view name) const { return terms_[index_of(name)].weight; }
  void set_weight(std::string_view name, T w) { terms_[index_of(name)].weight = w; }
  /// The unweighted value of a term at the last evaluation.
  T value(std::string_view name) const { return terms_[index_of(name)].value; }

 private:
  bool contains(std::string_view name) const {
    for (auto& t : terms_)
      if (t.name == name) return true;
    return false;
  }
  std::size_t index_of(std::string_view name) const {
    for (std::size_t i = 0; i < terms_.size(); ++i)
      if (terms_[i].name == name) return i;
    throw error(::ebm::detail::concat("weighted_sum: no term named '", name, "'"));
  }

  std::vector<term> terms_;
};

}  // namespace ebm::objective
