#pragma once
// sequential<Layers...>: a flat compile-time chain of blocks whose sizes are
// given at run time by the blocks' constructors:
//
//   nn::sequential net{nn::conv2d<float>(3, 32, 3, 1, 1), nn::swish<float>{},
//                      nn::flatten<float>{}, nn::linear<float>(32 * 32 * 32, 1)};
//
// Every pass chains the blocks' passes; parameters are named "<index>.<name>".
#include <cstddef>
#include <string>
#include <tuple>
#include <utility>

#include "init.hpp"
#include "layer.hpp"

namespace ebm::nn {

template <class... Layers>
class sequential {
  static_assert(sizeof...(Layers) > 0, "sequential needs at least one block");
  using first = std::tuple_element_t<0, std::tuple<Layers...>>;
  using last = std::tuple_element_t<sizeof...(Layers) - 1, std::tuple<Layers...>>;

 public:
  using value_type = typename first::value_type;
  using device_type = typename first::device_type;
  using tensor_type = tensor<value_type, device_type>;
  static constexpr std::size_t size = sizeof...(Layers);

  static_assert((std::is_same_v<typename Layers::value_type, value_type> && ...),
                "sequential: all blocks must share one scalar type");
  static_assert((std::is_same_v<typename Layers::device_type, device_type> && ...),
                "sequential: all blocks must share one device");
  static_assert((differentiable_block<Layers> && ...),
                "sequential: every block must provide forward, backward, forward_tangent and "
                "backward_tangent (see ebm/nn/layer.hpp)");

  explicit sequential(Layers... layers) : layers_(std::move(layers)...) {}

  template <std::size_t I> auto& get() { return std::get<I>(layers_); }
  template <std::size_t I> const auto& get() const { return std::get<I>(layers_); }

  const tensor_type& forward(const tensor_type& x) { return forward_until<0, size>(x); }
  const tensor_type& backward(const tensor_type& gy, grad g = grad::input) {
    if constexpr (size == 1) return std::get<0>(layers_).backward(gy, g);
    else return std::get<0>(layers_).backward(backward_until<size - 1>(gy, g), g);
  }
  const tensor_type& forward_tangent(const tensor_type& dx) { return tangent_from<0>(dx); }
  const tensor_type& backward_tangent(const tensor_type& dgy, grad g = grad::input) {
    return backward_tangent_from<size - 1>(dgy, g);
  }

  /// out = addend + scale · forward(x), when the last block can add its
  /// output into a sum (nn::branch_sum's fused residual).
  const tensor_type& forward_add(const tensor_type& x, const tensor_type& addend, value_type scale,
                                 tensor_type& out)
    requires requires(last& l, const tensor_type& t, tensor_type& o, value_type s) { l.forward_add(t, t, s, o); }
  {
    if constexpr (size == 1) return std::get<0>(layers_).forward_add(x, addend, scale, out);
    else return std::get<size - 1>(layers_).forward_add(forward_until<0, size - 1>(x), addend, scale, out);
  }
  /// out = addend + backward(gy, g) (the input gradient; parameter gradients
  /// as backward), when the first block can add its input gradient into a sum.
  const tensor_type& backward_add(const tensor_type& gy, grad g, const tensor_type& addend, tensor_type& out)
    requires requires(first& f, const tensor_type& t, tensor_type& o) { f.backward_add(t, grad::input, t, o); }
  {
    if constexpr (size == 1) return std::get<0>(layers_).backward_add(gy, g, addend, out);
    else return std::get<0>(layers_).backward_add(backward_until<size - 1>(gy, g), g, addend, out);
  }

  template <class F>
  void visit_params(F&& f) {
    visit_each([&](auto& layer, std::size_t i) {
      const std::string prefix = std::to_string(i);
      ebm::visit_params(layer, ebm::detail::prefixed(prefix, f));
    });
  }
  template <class F>
  void visit_buffers(F&& f) {
    visit_each([&](auto& layer, std::size_t i) {
      const std::string prefix = std::to_string(i);
      ebm::visit_buffers(layer, ebm::detail::prefixed_buffer(prefix, f));
    });
  }
  void on_buffers_loaded() {
    visit_each([&](auto& layer, std::size_t) { ebm::buffers_loaded(layer); });
  }
  void init(philox& rng) {
    visit_each([&](auto& layer, std::size_t) { initialize(layer, rng); });
  }
  void refresh() {
    visit_each([&](auto& layer, std::size_t) { ebm::refresh(layer); });
  }

 private:
  // Inner blocks always produce input gradients (the chain needs them);
  // only the first block honours the caller's request.
  static constexpr grad inner(grad g) { return g | grad::input; }

  // Blocks [I, End) forward; End > I.
  template <std::size_t I, std::size_t End>
  const tensor_type& forward_until(const tensor_type& x) {
    const tensor_type& y = std::get<I>(layers_).forward(x);
    if constexpr (I + 1 < End) return forward_until<I + 1, End>(y);
    else return y;
  }
  // Blocks I, I - 1, ..., 1 backward (block 0 is left to the caller); I >= 1.
  template <std::size_t I>
  const tensor_type& backward_until(const tensor_type& gy, grad g) {
    const tensor_type& gx = std::get<I>(layers_).backward(gy, inner(g));
    if constexpr (I == 1) return gx;
    else return backward_until<I - 1>(gx, g);
  }
  template <std::size_t I>
  const tensor_type& tangent_from(const tensor_type& dx) {
    const tensor_type& dy = std::get<I>(layers_).forward_tangent(dx);
    if constexpr (I + 1 < size) return tangent_from<I + 1>(dy);
    else return dy;
  }
  template <std::size_t I>
  const tensor_type& backward_tangent_from(const tensor_type& dgy, grad g) {
    if constexpr (I == 0) return std::get<0>(layers_).backward_tangent(dgy, g);
    else
      return backward_tangent_from<I - 1>(std::get<I>(layers_).backward_tangent(dgy, inner(g)), g);
  }
  template <class F>
  void visit_each(F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (f(std::get<I>(layers_), I), ...);
    }(std::index_sequence_for<Layers...>{});
  }

  std::tuple<Layers...> layers_;
};

}  // namespace ebm::nn
