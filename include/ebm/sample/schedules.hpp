#pragma once
// Step-size and noise-variance schedules for Langevin samplers.
//
// A schedule is a small value type with value_type and
//
//   value_type operator()(int t, int steps) const;   // t = 0 .. steps-1
//
// giving the value used at step t of a chain of `steps` steps.  Schedules are
// policies of ebm::langevin (sample/langevin.hpp): one for the step size s,
// one for the noise variance eta in  x <- x - (s/2) grad E(x) + sqrt(eta) eps.
// Any callable with this signature works; the four below cover the papers.
//
//   constant{v}          v at every step.
//   linear_decay{a, b}   a at t = 0 falling linearly to b at t = steps-1.
//   cf_ebm_decay{a}      CF-EBM appendix A.2: eta_t = a - a/(T - t + 1) with
//                        the paper's t = 1..T, i.e. a(1 - 1/steps) at the
//                        first step and exactly 0 at the last one.
//   geometric{a, b}      a at t = 0 to b at t = steps-1 with a constant ratio
//                        (annealed Langevin; a and b must be positive).
#include <cmath>
#include <concepts>

#include "../core/error.hpp"

namespace ebm {

/// A step-size or noise-variance schedule for a chain of `steps` steps.
template <class S, class T>
concept step_schedule = requires(const S& s, int t, int steps) {
  { s(t, steps) } -> std::convertible_to<T>;
};

namespace schedule {

/// The same value at every step.
template <class T>
struct constant {
  using value_type = T;
  T value;
  constexpr explicit constant(T v) : value(v) {}
  constexpr T operator()(int, int) const { return value; }
};
template <class T> constant(T) -> constant<T>;

/// Linear from `start` (first step) to `end` (last step).
template <class T>
struct linear_decay {
  using value_type = T;
  T start, end;
  constexpr explicit linear_decay(T start_value, T end_value = T(0))
      : start(start_value), end(end_value) {}
  constexpr T operator()(int t, int steps) const {
    if (steps <= 1) return start;
    const T f = T(t) / T(steps - 1);
    return start + (end - start) * f;
  }
};
template <class T> linear_decay(T) -> linear_decay<T>;
template <class T> linear_decay(T, T) -> linear_decay<T>;

/// CF-EBM's noise variance (appendix A.2): start - start / (T - t + 1) for the
/// paper's steps t = 1..T.  Our t counts from 0, hence T - t in place of
/// T - t + 1: the last step (t = steps-1) gets exactly 0 noise.
template <class T>
struct cf_ebm_decay {
  using value_type = T;
  T start;
  constexpr explicit cf_ebm_decay(T start_value = T(2e-2)) : start(start_value) {}
  constexpr T operator()(int t, int steps) const { return start - start / T(steps - t); }
};
template <class T> cf_ebm_decay(T) -> cf_ebm_decay<T>;

/// Geometric interpolation from `start` to `end` (both > 0): annealing.
template <class T>
struct geometric {
  using value_type = T;
  T start, end;
  geometric(T start_value, T end_value) : start(start_value), end(end_value) {
    EBM_REQUIRE(start > T(0) && end > T(0), "schedule::geometric: start and end must be positive, got ",
                start, " and ", end);
  }
  T operator()(int t, int steps) const {
    if (steps <= 1) return start;
    return start * std::pow(end / start, T(t) / T(steps - 1));
  }
};
template <class T> geometric(T, T) -> geometric<T>;

}  // namespace schedule
}  // namespace ebm
