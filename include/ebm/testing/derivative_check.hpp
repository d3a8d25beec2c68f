#pragma once
// A generic checker of the four-operation derivative contract (see
// nn/layer.hpp) against central finite differences, in double.  Every layer
// and composed network of ebm passes it in the test suite; users run it on
// their own blocks the same way:
//
//   ebm::nn::linear<double> l(5, 3);
//   auto r = ebm::testing::check_derivatives(l, ebm::shape{4, 5});
//   assert(r.ok());   // r.str() explains any failure
//
// What is checked, for input and parameter parts:
//   1. vjp:      <J^T gy, v> against (<gy, f(x+hv)> - <gy, f(x-hv)>) / 2h, on
//                random directions and on single coordinates;
//   2. jvp:      J dx against (f(x+h dx) - f(x-h dx)) / 2h, elementwise;
//   3. adjoint:  <gy, J dx> = <J^T gy, dx>;
//   4. tangent of the vjp: backward_tangent(dgy) against central differences
//                of backward() along (x + h dx, gy + h dgy), for gx and every
//                parameter gradient;
//   5. grad::input leaves parameter gradients untouched, and parameter
//      gradients accumulate.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "../core/philox.hpp"
#include "../core/tensor.hpp"
#include "../nn/layer.hpp"

namespace ebm::testing {

struct check_options {
  double step = 1e-5;            ///< finite-difference step h
  double tolerance = 1e-6;       ///< relative tolerance
  double abs_floor = 1e-7;       ///< scale floor for relative errors
  int directions = 3;            ///< random directions per gradient
  int coordinates = 24;          ///< single coordinates checked per tensor
  bool randomize_params = true;  ///< add N(0, param_noise^2) to parameters first
  double param_noise = 0.3;
  /// refresh() calls after randomising (lets spectral norm's power iteration
  /// catch up with the new weights, as training would).
  int refreshes = 30;
  std::uint64_t seed = 1234;
};

struct check_result {
  std::vector<std::string> failures;
  double max_error = 0;  ///< largest relative error seen
  bool ok() const { return failures.empty(); }
  std::string str() const {
    std::ostringstream os;
    os << (ok() ? "all derivative checks passed" : "derivative checks failed:");
    for (auto& f : failures) os << "\n  " << f;
    os << "\n  (max relative error " << max_error << ")";
    return os.str();
  }
};

namespace detail {

inline double dot(const tensor<double>& a, const tensor<double>& b) {
  double s = 0;
  for (index_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}
inline double max_abs(const tensor<double>& a) {
  double m = 0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}
inline tensor<double> random_like(const shape& s, philox& rng) {
  tensor<double> t(s);
  rng.fill_normal<double>(t.span());
  return t;
}
inline tensor<double> axpy(const tensor<double>& x, double a, const tensor<double>& v) {
  tensor<double> r(x);
  for (index_t i = 0; i < r.size(); ++i) r[i] += a * v[i];
  return r;
}

class recorder {
 public:
  recorder(check_result& r, const check_options& o) : r_(r), o_(o) {}
  void scalar(const std::string& what, double analytic, double numeric, double scale) {
    const double err = std::abs(analytic - numeric) / std::max({scale, std::abs(numeric), o_.abs_floor});
    note(what, err, analytic, numeric);
  }
  void vector(const std::string& what, const tensor<double>& analytic, const tensor<double>& numeric) {
    double scale = std::max({max_abs(analytic), max_abs(numeric), o_.abs_floor});
    double worst = 0;
    index_t at = 0;
    for (index_t i = 0; i < analytic.size(); ++i) {
      const double e = std::abs(analytic[i] - numeric[i]) / scale;
      if (e > worst) worst = e, at = i;
    }
    note(what + " (worst at element " + std::to_string(at) + ")", worst,
         analytic.size() ? analytic[at] : 0, numeric.size() ? numeric[at] : 0);
  }
  void fail(const std::string& what) { r_.failures.push_back(what); }

 private:
  void note(const std::string& what, double err, double a, double n) {
    r_.max_error = std::max(r_.max_error, err);
    if (!(err <= o_.tolerance)) {
      std::ostringstream os;
      os << what << ": analytic " << a << " vs numeric " << n << " (relative error " << err << ")";
      r_.failures.push_back(os.str());
    }
  }
  check_result& r_;
  const check_options& o_;
};

}  // namespace detail

/// Checks the derivative contract of `block` at input `x` (double only).
template <class Block>
check_result check_derivatives(Block& block, const tensor<double>& x0, check_options opt = {}) {
  static_assert(std::is_same_v<typename Block::value_type, double>,
                "check_derivatives: instantiate the block with double");
  using detail::axpy;
  using detail::dot;
  check_result result;
  detail::recorder rec(result, opt);
  philox rng(opt.seed, 77);

  auto params = collect_params(block);
  if (opt.randomize_params)
    for (auto& p : params) {
      tensor<double> noise = detail::random_like(p.value->shape(), rng);
      for (index_t i = 0; i < noise.size(); ++i) (*p.value)[i] += opt.param_noise * noise[i];
    }
  if (opt.randomize_params)
    for (int i = 0; i < opt.refreshes; ++i) refresh(block);

  const tensor<double> x(x0);
  const tensor<double> y(block.forward(x));
  const tensor<double> gy = detail::random_like(y.shape(), rng);
  const tensor<double> dgy = detail::random_like(y.shape(), rng);
  const tensor<double> dx = detail::random_like(x.shape(), rng);
  const double h = opt.step;

  // Scalar objective <gy, f(x)> and the full (gx, g_theta) at a point.
  auto objective = [&](const tensor<double>& at) { return dot(gy, block.forward(at)); };
  auto vjp = [&](const tensor<double>& at, const tensor<double>& g, std::vector<tensor<double>>& gp) {
    block.forward(at);
    zero_grad(block);
    tensor<double> gx(block.backward(g, grad::both));
    gp.clear();
    for (auto& p : params) gp.emplace_back(*p.grad);
    return gx;
  };

  std::vector<tensor<double>> gtheta;
  const tensor<double> gx = vjp(x, gy, gtheta);
  require_same_shape(x.shape(), gx.shape(), "check_derivatives: backward returned gx");

  // 1. vjp, input part.
  for (int k = 0; k < opt.directions; ++k) {
    const tensor<double> v = k == 0 ? dx : detail::random_like(x.shape(), rng);
    const double fd = (objective(axpy(x, h, v)) - objective(axpy(x, -h, v))) / (2 * h);
    rec.scalar("vjp input, direction " + std::to_string(k), dot(gx, v), fd, 0);
  }
  for (int k = 0; k < std::min<index_t>(opt.coordinates, x.size()); ++k) {
    const index_t i = x.size() <= opt.coordinates ? k : static_cast<index_t>(rng.uniform_int(x.size()));
    tensor<double> xp(x), xm(x);
    xp[i] += h, xm[i] -= h;
    rec.scalar("vjp input, coordinate " + std::to_string(i), gx[i],
               (objective(xp) - objective(xm)) / (2 * h), detail::max_abs(gx));
  }
  // 1'. vjp, parameter part.
  for (std::size_t p = 0; p < params.size(); ++p) {
    tensor<double>& w = *params[p].value;
    const tensor<double> w0(w);
    const tensor<double> v = detail::random_like(w.shape(), rng);
    w = axpy(w0, h, v);
    const double fp = objective(x);
    w = axpy(w0, -h, v);
    const double fm = objective(x);
    w = w0;
    rec.scalar("vjp param '" + params[p].name + "', random direction", dot(gtheta[p], v),
               (fp - fm) / (2 * h), 0);
    for (int k = 0; k < std::min<index_t>(opt.coordinates, w.size()); ++k) {
      const index_t i = w.size() <= opt.coordinates ? k : static_cast<index_t>(rng.uniform_int(w.size()));
      w[i] = w0[i] + h;
      const double cp = objective(x);
      w[i] = w0[i] - h;
      const double cm = objective(x);
      w[i] = w0[i];
      rec.scalar("vjp param '" + params[p].name + "', coordinate " + std::to_string(i),
                 gtheta[p][i], (cp - cm) / (2 * h), detail::max_abs(gtheta[p]));
    }
  }

  // 2. jvp against central differences of f.
  tensor<double> fd_dy(block.forward(axpy(x, h, dx)));
  {
    const tensor<double>& ym = block.forward(axpy(x, -h, dx));
    for (index_t i = 0; i < fd_dy.size(); ++i) fd_dy[i] = (fd_dy[i] - ym[i]) / (2 * h);
  }

  // 4 (numeric side). Central differences of the vjp along (dx, dgy).
  std::vector<tensor<double>> gp_plus, gp_minus;
  tensor<double> fd_dgx = vjp(axpy(x, h, dx), axpy(gy, h, dgy), gp_plus);
  {
    const tensor<double> gxm = vjp(axpy(x, -h, dx), axpy(gy, -h, dgy), gp_minus);
    for (index_t i = 0; i < fd_dgx.size(); ++i) fd_dgx[i] = (fd_dgx[i] - gxm[i]) / (2 * h);
    for (std::size_t p = 0; p < params.size(); ++p)
      for (index_t i = 0; i < gp_plus[p].size(); ++i)
        gp_plus[p][i] = (gp_plus[p][i] - gp_minus[p][i]) / (2 * h);
  }

  // Analytic passes at x: forward, backward, forward_tangent, backward_tangent.
  block.forward(x);
  zero_grad(block);
  block.backward(gy, grad::input);
  for (std::size_t p = 0; p < params.size(); ++p)
    if (detail::max_abs(*params[p].grad) != 0)
      rec.fail("backward(grad::input) changed the gradient of '" + params[p].name + "'");
  block.backward(gy, grad::both);
  const tensor<double> dy(block.forward_tangent(dx));
  zero_grad(block);
  const tensor<double> dgx(block.backward_tangent(dgy, grad::both));
  require_same_shape(y.shape(), dy.shape(), "check_derivatives: forward_tangent returned dy");
  require_same_shape(x.shape(), dgx.shape(), "check_derivatives: backward_tangent returned dgx");

  rec.vector("jvp (forward_tangent)", dy, fd_dy);
  rec.scalar("adjoint identity <gy, J dx> = <J^T gy, dx>", dot(gy, dy), dot(gx, dx),
             std::sqrt(dot(gy, gy) * dot(dy, dy)) + std::sqrt(dot(gx, gx) * dot(dx, dx)));
  rec.vector("tangent of vjp, input part", dgx, fd_dgx);
  for (std::size_t p = 0; p < params.size(); ++p)
    rec.vector("tangent of vjp, param '" + params[p].name + "'", *params[p].grad, gp_plus[p]);

  // 5. Parameter gradients accumulate.
  if (!params.empty()) {
    block.forward(x);
    zero_grad(block);
    block.backward(gy, grad::params);
    block.backward(gy, grad::params);
    for (std::size_t p = 0; p < params.size(); ++p) {
      tensor<double> twice(gtheta[p]);
      for (double& v : twice) v *= 2;
      rec.vector("parameter gradients accumulate ('" + params[p].name + "')", *params[p].grad, twice);
    }
  }
  return result;
}

/// Same with a standard-normal input of the given shape.
template <class Block>
check_result check_derivatives(Block& block, const shape& input_shape, check_options opt = {}) {
  philox rng(opt.seed, 99);
  tensor<double> x(input_shape);
  rng.fill_normal<double>(x.span());
  return check_derivatives(block, x, opt);
}

}  // namespace ebm::testing
