#pragma once
// What the diffusion objectives (denoising_fisher, egc_loss, cross_entropy)
// and the reverse-diffusion samplers (ddpm, ddim, repaint, egc::score_model)
// share to run on a device other than ebm::cpu: the name of their kernel
// trait and small helpers for the per-sample values they compute on the host.
//
// The host path of each of them is written inline and unchanged; on another
// device D they call diffusion_kernels<D>, whose ebm::cuda specialisation is
// declared in device/cuda/diffusion.hpp and defined in diffusion.cuh
// (included by ebm/device/cuda/cuda.cuh, so a .cu file that includes it can
// instantiate every one of these classes with D = ebm::cuda).  Small
// per-sample quantities (timesteps, labels, per-sample coefficients) are
// drawn or computed on the host, exactly as on the CPU, and copied over.
#include <type_traits>

#include "../../core/tensor.hpp"
#include "../../nn/layer.hpp"

namespace ebm {

/// Device kernels of the diffusion objectives and samplers, specialised per
/// accelerator (device/cuda/diffusion.hpp).
template <class D> struct diffusion_kernels;

namespace detail {

/// Binds a tensor that has not allocated yet to `dev`'s stream, so that the
/// buffers of an objective or a sampler live on the stream of the tensors
/// they are given (nothing to do on the host).
template <class T, class D>
void bind_to(tensor<T, D>& t, const D& dev) {
  if constexpr (!std::is_same_v<D, cpu>) {
    if (t.capacity() == 0) t = tensor<T, D>(dev);
  } else {
    (void)t;
    (void)dev;
  }
}

/// What a sampler keeps for the checks that read one word back from a
/// device (nothing on the host).
template <class D>
struct diffusion_status_for {
  using type = typename diffusion_kernels<D>::status_buffer;
};
template <>
struct diffusion_status_for<cpu> {
  struct type {};
};
template <class D>
using diffusion_status = typename diffusion_status_for<D>::type;

/// Copies host values into a device tensor of the given shape (through a
/// host staging tensor that is kept between calls).
template <class T, class D>
void upload(tensor<T, cpu>& staged, tensor<T, D>& dst, const D& dev) {
  bind_to(dst, dev);
  copy(staged, dst);
}

/// Where per-sample values drawn or computed on the host are written: the
/// tensor itself on the host, its staging tensor for a device (then
/// publish() copies them over).
template <class T, class D>
tensor<T, cpu>& host_side(tensor<T, D>& t, tensor<T, cpu>& staged) {
  if constexpr (std::is_same_v<D, cpu>) {
    (void)staged;
    return t;
  } else {
    (void)t;
    return staged;
  }
}
/// After host_side(t, staged) was written: copies the values into t on the
/// device of `like` (nothing on the host).
template <class T, class D>
void publish(tensor<T, cpu>& staged, tensor<T, D>& t, const tensor<T, D>& like) {
  if constexpr (!std::is_same_v<D, cpu>) upload(staged, t, like.device());
  else (void)staged, (void)t, (void)like;
}
/// Binds t to the device of `like` (nothing on the host).
template <class T, class D>
void bind_like(tensor<T, D>& t, const tensor<T, D>& like) {
  if constexpr (!std::is_same_v<D, cpu>) bind_to(t, like.device());
  else (void)t, (void)like;
}

/// The input gradient ∇ₓE of a network whose forward pass just returned the
/// energies of shape `energies`: its backward pass of ones (kept in `ones`,
/// bound to dev between calls).
template <class Net, class T, class D>
decltype(auto) backward_of_ones(Net& net, tensor<T, D>& ones, const shape& energies, const D& dev) {
  bind_to(ones, dev);
  ones.resize(energies);
  ones.fill(T(1));
  return net.backward(ones, grad::input);
}

/// `zeros` (bound to dev) resized to s and cleared: the output-gradient seed
/// of a tangent pass that differentiates only through its input direction.
template <class T, class D>
const tensor<T, D>& zero_seed(tensor<T, D>& zeros, const shape& s, const D& dev) {
  bind_to(zeros, dev);
  zeros.resize(s);
  zeros.zero();
  return zeros;
}

/// The forward diffusion on the host: x_t = a_i x_0 + s_i ε per sample i,
/// with a = c[0, n) and s = c[n, 2n) (diffusion_kernels<D>::noise on a
/// device).
template <class T>
void noise_on_host(const tensor<T>& x0, const tensor<T>& eps, const T* c, tensor<T>& xt) {
  const index_t n = x0.extent(0), d = x0.shape().sample_size();
  xt.resize(x0.shape());
  for (index_t i = 0; i < n; ++i)
    for (index_t j = i * d; j < (i + 1) * d; ++j) xt[j] = c[i] * x0[j] + c[n + i] * eps[j];
}

}  // namespace detail
}  // namespace ebm
