#pragma once
// The derivative contract every differentiable block of ebm follows.
//
// A block is a small struct templated on its scalar T and device D with:
//
//   const tensor<T,D>& forward(const tensor<T,D>& x);
//       y = f(x).  Keeps what later passes need.  The input must stay alive
//       and unchanged until the passes that follow (backward, tangents) ran.
//   const tensor<T,D>& backward(const tensor<T,D>& gy, grad g = grad::input);
//       gx = J^T gy.  With grad::params set, adds (J_theta)^T gy to every
//       parameter's gradient buffer (accumulates; zero_grad() resets).  gx is
//       only computed when grad::input is set.
//   const tensor<T,D>& forward_tangent(const tensor<T,D>& dx);
//       dy = J dx at the cached x (after forward).
//   const tensor<T,D>& backward_tangent(const tensor<T,D>& dgy, grad g = grad::input);
//       The directional derivative of backward() along (dx, dgy), where dx is
//       the last forward_tangent() direction and dgy the tangent of gy:
//       returns dgx and, with grad::params, adds the tangent of the parameter
//       gradient to the gradient buffers.  Requires forward, backward and
//       forward_tangent to have run at the same point.
//
// Inside an ebm::first_order_scope (first_order.hpp) a forward may keep only
// what backward needs; tangent passes after such a forward throw.
//
// Optional fused sums, which nn::branch_sum uses when its second branch has
// them (results as forward / backward, written into `out`):
//   const tensor<T,D>& forward_add(x, addend, scale, out);   out = addend + scale y
//   const tensor<T,D>& backward_add(gy, g, addend, out);     out = addend + gx
//
// Returned references point into the block's own buffers and are valid until
// the next call of the same pass.  Parameters are exposed through
//   template <class F> void visit_params(F&& f);  // f(name, value, grad)
// (absent for parameter-free blocks).  Blocks with state that must be updated
// after an optimizer step (spectral norm's power iteration) provide refresh().
//
// Forward-over-reverse: for L(theta) = <v, grad_x E>, grad_theta L is the
// tangent of grad_theta E along dx = v, so one forward_tangent/backward_tangent
// pass gives exact Hessian-vector products (the Fisher-divergence gradient).
#include <concepts>
#include <string>
#include <string_view>
#include <vector>

#include "../core/tensor.hpp"

namespace ebm {

/// Which gradients a backward pass computes (bit flags).
enum class grad : unsigned { none = 0, input = 1, params = 2, both = 3 };
constexpr grad operator|(grad a, grad b) {
  return static_cast<grad>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
constexpr bool wants_input(grad g) { return static_cast<unsigned>(g) & 1u; }
constexpr bool wants_params(grad g) { return static_cast<unsigned>(g) & 2u; }

/// A block that honours the four-operation derivative contract.
template <class L>
concept differentiable_block = requires(L l, const typename L::tensor_type& t) {
  typename L::value_type;
  typename L::device_type;
  { l.forward(t) } -> std::convertible_to<const typename L::tensor_type&>;
  { l.backward(t, grad::input) } -> std::convertible_to<const typename L::tensor_type&>;
  { l.forward_tangent(t) } -> std::convertible_to<const typename L::tensor_type&>;
  { l.backward_tangent(t, grad::input) } -> std::convertible_to<const typename L::tensor_type&>;
};

/// Visits every parameter of a block as f(name, value, grad); no-op for
/// parameter-free blocks.
template <class L, class F>
void visit_params(L& layer, F&& f) {
  if constexpr (requires { layer.visit_params(f); }) layer.visit_params(f);
}

/// Visits non-trainable state a checkpoint must keep (e.g. spectral norm's
/// power-iteration vector) as f(name, tensor); no-op for blocks without any.
template <class L, class F>
void visit_buffers(L& layer, F&& f) {
  if constexpr (requires { layer.visit_buffers(f); }) layer.visit_buffers(f);
}

/// Tells blocks that their buffers were overwritten (after loading a
/// checkpoint), so derived state can be recomputed.
template <class L>
void buffers_loaded(L& layer) {
  if constexpr (requires { layer.on_buffers_loaded(); }) layer.on_buffers_loaded();
}

/// Calls refresh() on blocks that have it (after each optimizer step).
template <class L>
void refresh(L& layer) {
  if constexpr (requires { layer.refresh(); }) layer.refresh();
}

/// Sets every parameter gradient to zero.
template <class L>
void zero_grad(L& layer) {
  visit_params(layer, [](std::string_view, auto&, auto& g) { g.zero(); });
}

/// Number of scalar parameters.
template <class L>
index_t param_count(L& layer) {
  index_t n = 0;
  visit_params(layer, [&](std::string_view, auto& v, auto&) { n += v.size(); });
  return n;
}

/// A named reference to one parameter tensor and its gradient.
template <class T, class D = cpu>
struct param_ref {
  std::string name;
  tensor<T, D>* value;
  tensor<T, D>* grad;
};

/// All parameters of a block, in visiting order.
template <class L>
auto collect_params(L& layer) {
  std::vector<param_ref<typename L::value_type, typename L::device_type>> out;
  visit_params(layer, [&](std::string_view name, auto& v, auto& g) {
    out.push_back({std::string(name), &v, &g});
  });
  return out;
}

namespace detail {
/// Prefixes parameter names of a child block: "prefix.name".
template <class F>
auto prefixed(std::string_view prefix, F& f) {
  return [prefix, &f](std::string_view name, auto& v, auto& g) {
    std::string full(prefix);
    full += '.';
    full += name;
    f(std::string_view(full), v, g);
  };
}
/// Same for buffer visitors f(name, tensor).
template <class F>
auto prefixed_buffer(std::string_view prefix, F& f) {
  return [prefix, &f](std::string_view name, auto& v) {
    std::string full(prefix);
    full += '.';
    full += name;
    f(std::string_view(full), v);
  };
}
}  // namespace detail

}  // namespace ebm
