#pragma once
// The energy concept samplers and objectives are written against.
//
// An energy maps a batch x of shape [N, ...] to N per-sample energies E(x_i)
// (density p(x) ∝ exp(-E(x))); no sample influences another's energy.
//
//   const tensor<T,D>& energy(const tensor<T,D>& x);                 // [N]
//   const tensor<T,D>& energy_and_grad(const tensor<T,D>& x, tensor<T,D>& g);
//       returns the energies and writes g = ∇_x E (per sample, shape of x).
//
// Network energies (energy/network.hpp) additionally expose the block with
// the four-operation derivative contract, which objectives use for parameter
// gradients and exact Hessian-vector products.
#include <concepts>

#include "../core/tensor.hpp"

namespace ebm {

template <class E>
concept energy_function =
    requires(E& e, const tensor<typename E::value_type, typename E::device_type>& x,
             tensor<typename E::value_type, typename E::device_type>& g) {
      typename E::value_type;
      typename E::device_type;
      { e.energy(x) } -> std::convertible_to<const tensor<typename E::value_type, typename E::device_type>&>;
      { e.energy_and_grad(x, g) } -> std::convertible_to<const tensor<typename E::value_type, typename E::device_type>&>;
    };

}  // namespace ebm
