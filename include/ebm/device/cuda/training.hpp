#pragma once
// training_kernels<cuda>: the device side of the samplers, optimizers and
// objectives, so that a whole training iteration (chains from noise or
// coarse-to-fine, guarded Langevin steps, the maximum-likelihood loss and
// its parameter gradients, an optimizer step) runs on the GPU.  The
// algorithms stay in their headers, which are written for tensor<T, D>:
//
//   sample/langevin.hpp            langevin_update    (per step)
//   sample/coarse_to_fine.hpp      mix                (the final blend)
//   objective/maximum_likelihood   energy_weights     (the backward seeds)
//   optim/adam.hpp, sgd.hpp        adam, sgd          (one kernel per tensor)
//   optim/ema.hpp                  ema, swap
//   optim/clip_grad_norm.hpp       grad_sq_norm, scale
//
// Every update evaluates the host loop's expression with explicitly rounded
// operations (__fmul_rn, __fadd_rn, ...), so nvcc does not contract it into
// FMAs: given the same inputs the optimizers' updates equal a host build that
// does not contract either (no -march=native / -ffp-contract=off).  The
// Langevin update draws the noise philox::fill_normal would draw at the
// generator state it is given (device Philox, random.cuh).  Reductions (the
// per-chain and global gradient norms) use a fixed order: deterministic, but
// not the host's order, so their last bits may differ.
//
// Host-API declarations; the kernels and the functions that launch them are
// defined in training.cuh (include ebm/device/cuda/cuda.cuh in .cu files).
#include <cstdint>
#include <vector>

#include "../../nn/layer.hpp"
#include "../../optim/detail/param_state.hpp"
#include "../../sample/detail/chain.hpp"
#include "tensor.hpp"

namespace ebm {

template <>
struct training_kernels<cuda> {
  /// What langevin keeps between the steps of a device chain (its scratch
  /// slot): the gradient, per-chain step factors and the status words.
  template <class T>
  struct langevin_workspace {
    tensor<T, cuda> g;                    ///< grad E at the chains
    tensor<T, cuda> scale;                ///< per-chain factor of g (clipping)
    tensor<std::uint32_t, cuda> status;   ///< clipped count, first bad energy, first bad state
    tensor<std::uint32_t, cpu> status_host;

    /// The gradient buffer, bound to `dev` (the chains' stream) on first use
    /// and rebound when the chains move to another stream (a sampler reused
    /// under another cuda_scope): the buffers are resized, zeroed and read
    /// back on their own stream, which must be the kernels' stream.
    tensor<T, cuda>& gradient(const cuda& dev) {
      if (g.capacity() == 0 || g.device() != dev) g = tensor<T, cuda>(dev);
      return g;
    }
  };

  /// One guarded Langevin update (sample/detail/chain.hpp,
  /// langevin_update_args) on dev's stream: the per-chain gradient norms
  /// when clipping (one block per chain), then one fused kernel that
  /// updates, clamps and masks every entry and checks the new state and the
  /// energies for NaN and Inf.  Reads the three status words back (waits for
  /// the stream).
  template <class T>
  static detail::langevin_update_result langevin_update(langevin_workspace<T>& ws, const cuda& dev,
                                                        const detail::langevin_update_args<T>& a);

  /// x = a x + b y (coarse-to-fine blend).
  template <class T>
  static void mix(const cuda& dev, T* x, const T* y, index_t n, T a, T b);

  /// gy_i = scale (sign + 2 alpha y_i): the maximum-likelihood loss's
  /// derivative with respect to the energies.
  template <class T>
  static void energy_weights(const cuda& dev, const T* y, T* gy, index_t n, T scale, T sign, T alpha);

  /// One Adam update of a parameter tensor (optim/adam.hpp).
  template <class T>
  static void adam(const cuda& dev, T* w, const T* g, T* m, T* v, index_t n,
                   const optim::detail::adam_coefficients<T>& c);
  /// One SGD update (optim/sgd.hpp); b is the momentum buffer or null.
  template <class T>
  static void sgd(const cuda& dev, T* w, const T* g, T* b, index_t n, const optim::detail::sgd_coefficients<T>& c);
  /// avg = d avg + c w.
  template <class T>
  static void ema(const cuda& dev, T* avg, const T* w, index_t n, T d, T c);
  /// Exchanges the contents of a and b.
  template <class T>
  static void swap(const cuda& dev, T* a, T* b, index_t n);
  /// x = s x.
  template <class T>
  static void scale(const cuda& dev, T* x, index_t n, T s);
  /// The sum of the squared gradients of all parameters, accumulated in
  /// double in a fixed order on the first parameter's stream (all of them
  /// must be ordered on it, as they are for one network); reads one double
  /// back.
  template <class T>
  static double grad_sq_norm(const std::vector<param_ref<T, cuda>>& params);
};

}  // namespace ebm
