#pragma once
// Activation policies: f, f' and f'' of a scalar function, usable from host
// and device code.  Stateless policies are empty structs; CELU and LeakyReLU
// carry their parameter.  The elementwise layer (nn/elementwise.hpp) derives
// all four derivative operations from these three functions.
#include <cmath>

#include "../core/config.hpp"

namespace ebm::act {

struct identity {
  static constexpr const char* name = "identity";
  template <class T> EBM_HD T f(T x) const { return x; }
  template <class T> EBM_HD T df(T) const { return T(1); }
  template <class T> EBM_HD T d2f(T) const { return T(0); }
};

/// ReLU (not smooth: f'' = 0 almost everywhere; for ablations).
struct relu {
  static constexpr const char* name = "relu";
  template <class T> EBM_HD T f(T x) const { return x > T(0) ? x : T(0); }
  template <class T> EBM_HD T df(T x) const { return x > T(0) ? T(1) : T(0); }
  template <class T> EBM_HD T d2f(T) const { return T(0); }
};

/// LeakyReLU with negative slope `slope` (not smooth; for ablations).
struct leaky_relu {
  static constexpr const char* name = "leaky_relu";
  double slope = 0.2;
  template <class T> EBM_HD T f(T x) const { return x > T(0) ? x : T(slope) * x; }
  template <class T> EBM_HD T df(T x) const { return x > T(0) ? T(1) : T(slope); }
  template <class T> EBM_HD T d2f(T) const { return T(0); }
};

/// Logistic sigmoid, numerically stable for large |x|.
template <class T> EBM_HD EBM_INLINE T sigmoid_fn(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

/// Swish / SiLU: x * sigmoid(x) (CF-EBM's activation).
struct swish {
  static constexpr const char* name = "swish";
  template <class T> EBM_HD T f(T x) const { return x * sigmoid_fn(x); }
  template <class T> EBM_HD T df(T x) const {
    const T s = sigmoid_fn(x);
    return s * (T(1) + x * (T(1) - s));
  }
  template <class T> EBM_HD T d2f(T x) const {
    const T s = sigmoid_fn(x);
    return s * (T(1) - s) * (T(2) + x * (T(1) - T(2) * s));
  }
};
using silu = swish;

/// GELU with the exact Gaussian CDF: x * Phi(x).
struct gelu {
  static constexpr const char* name = "gelu";
  template <class T> EBM_HD static T pdf(T x) { return T(0.3989422804014327) * std::exp(T(-0.5) * x * x); }
  template <class T> EBM_HD static T cdf(T x) { return T(0.5) * (T(1) + std::erf(x * T(0.7071067811865476))); }
  template <class T> EBM_HD T f(T x) const { return x * cdf(x); }
  template <class T> EBM_HD T df(T x) const { return cdf(x) + x * pdf(x); }
  template <class T> EBM_HD T d2f(T x) const { return pdf(x) * (T(2) - x * x); }
};

/// CELU(alpha): x for x > 0, alpha (exp(x / alpha) - 1) otherwise (C^1;
/// f'' jumps from 1/alpha to 0 at 0).
struct celu {
  static constexpr const char* name = "celu";
  double alpha = 1.0;
  template <class T> EBM_HD T f(T x) const { return x > T(0) ? x : T(alpha) * (std::exp(x / T(alpha)) - T(1)); }
  template <class T> EBM_HD T df(T x) const { return x > T(0) ? T(1) : std::exp(x / T(alpha)); }
  template <class T> EBM_HD T d2f(T x) const { return x > T(0) ? T(0) : std::exp(x / T(alpha)) / T(alpha); }
};

/// Softplus: log(1 + exp(x)), stable for large |x|.
struct softplus {
  static constexpr const char* name = "softplus";
  template <class T> EBM_HD T f(T x) const {
    return (x > T(0) ? x : T(0)) + std::log1p(std::exp(-(x > T(0) ? x : -x)));
  }
  template <class T> EBM_HD T df(T x) const { return sigmoid_fn(x); }
  template <class T> EBM_HD T d2f(T x) const {
    const T s = sigmoid_fn(x);
    return s * (T(1) - s);
  }
};

struct tanh {
  static constexpr const char* name = "tanh";
  template <class T> EBM_HD T f(T x) const { return std::tanh(x); }
  template <class T> EBM_HD T df(T x) const {
    const T t = std::tanh(x);
    return T(1) - t * t;
  }
  template <class T> EBM_HD T d2f(T x) const {
    const T t = std::tanh(x);
    return T(-2) * t * (T(1) - t * t);
  }
};

struct sigmoid {
  static constexpr const char* name = "sigmoid";
  template <class T> EBM_HD T f(T x) const { return sigmoid_fn(x); }
  template <class T> EBM_HD T df(T x) const {
    const T s = sigmoid_fn(x);
    return s * (T(1) - s);
  }
  template <class T> EBM_HD T d2f(T x) const {
    const T s = sigmoid_fn(x);
    return s * (T(1) - s) * (T(1) - T(2) * s);
  }
};

}  // namespace ebm::act
