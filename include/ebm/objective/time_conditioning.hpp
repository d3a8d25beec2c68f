#pragma once
// How a diffusion timestep reaches a network.
//
// Diffusion-trained objectives (objective/denoising_fisher.hpp) and reverse-
// diffusion samplers draw a timestep per sample.  An unconditional network
// sees the noise level only through x_t; a time-conditioned one (EGC's
// classifier with a timestep embedding) must be told t before forward().
// The hook is a member function, found at compile time:
//
//   void set_time(const tensor<T, D>& t);   // t: [N], timestep indices 0..T-1
//
// The indices are passed as scalars of the network's own type and device so
// that an embedding layer can use them without a host round trip; the
// network decides how to embed them (sinusoidal, learned, scaled to [0, 1]).
// set_time() is called before every forward() whose input depends on t and
// the tensor stays alive and unchanged until the passes of that step ended.
#include "../core/tensor.hpp"

namespace ebm {

/// A network that accepts per-sample diffusion timesteps before forward().
template <class Net>
concept time_conditioned =
    requires(Net& net, const tensor<typename Net::value_type, typename Net::device_type>& t) {
      net.set_time(t);
    };

/// Tells a time-conditioned network the timesteps of the coming batch; does
/// nothing for an unconditional network.
template <class Net, class T, class D>
void set_time(Net& net, const tensor<T, D>& t) {
  if constexpr (time_conditioned<Net>) net.set_time(t);
}

}  // namespace ebm
