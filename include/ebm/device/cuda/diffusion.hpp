#pragma once
// diffusion_kernels<cuda>: the device side of the diffusion objectives
// (objective/denoising_fisher.hpp, objective/egc.hpp,
// objective/cross_entropy.hpp) and of reverse diffusion
// (sample/diffusion.hpp, sample/repaint.hpp, egc::score_model), so that an
// EGC training step and guided DDPM/DDIM sampling run on the GPU:
//
//   noise                 x_t = √ᾱ(t_i) x0 + σ_i ε            (per-sample coefficients)
//   fisher_residual       r = a_i g − b_i ε, v = s_i r, Σ r²   (one block per sample)
//   cross_entropy         label-smoothed CE rows and ∂/∂z      (one thread per row)
//   log_prob_logit_grad   onehot(y) − softmax(z)               (guidance seed)
//   reverse_step          the DDPM / DDIM update from the score
//   blend_known, replace_known   RePaint's known-pixel updates
//   first_nonfinite_chain, bitwise_equal   checks with one word read back
//
// Per-sample coefficients arrive as device arrays computed on the host with
// the host's formulas (in T or double as there).  Every elementwise update
// evaluates the host loop's expression with explicitly rounded operations
// (__fmul_rn, __fadd_rn, ...), so nvcc does not contract it into FMAs: given
// the same inputs it equals a host build that does not contract either.
// The per-sample sums of squares are block reductions in double in a fixed
// order (deterministic, not the host's order); the cross-entropy rows run
// the host's loops in the host's order, with exp and log in double.
//
// Host-API declarations; the kernels are in diffusion.cuh.
#include <cstdint>

#include "../../objective/detail/diffusion_device.hpp"
#include "tensor.hpp"

namespace ebm {

template <>
struct diffusion_kernels<cuda> {
  /// A device word for the checks that read one value back.
  using status_buffer = tensor<unsigned long long, cuda>;

  /// xt[i, j] = c0[i] x0[i, j] + sigma[i] eps[i, j] for n samples of `per`
  /// elements; c0 and sigma are device arrays [n].
  template <class T>
  static void noise(const cuda& dev, const T* x0, const T* eps, const T* c0, const T* sigma, T* xt,
                    index_t n, index_t per);

  /// r = a[i] g − b[i] eps, v = scale[i] r and sq[i] = Σ_j r² (in double)
  /// for n samples of `per` elements; a, b, scale device arrays [n], sq a
  /// device array of n doubles.
  template <class T>
  static void fisher_residual(const cuda& dev, const T* g, const T* eps, const T* a, const T* b,
                              const T* scale, T* v, double* sq, index_t n, index_t per);

  /// Label-smoothed cross-entropy of the rows of z [n, k] whose label is
  /// >= 0 (labels: device array [n], already checked to be < k; a negative
  /// label skips the row): with q = on at the label and off elsewhere,
  ///   out[i] = −Σ_c q_c log softmax(z_i)_c,  out[n + i] = 1 if the first
  ///   largest logit is the label, else 0  (both 0 for a skipped row),
  ///   gz[i, c] = (pre_i (softmax_c − q_c)) / div  (0 for a skipped row),
  /// where pre_i = pre[i] when `pre` is given, else pre_all.  gz may be null.
  /// out is a device array of 2n doubles.
  template <class T>
  static void cross_entropy(const cuda& dev, const T* z, const int* labels, index_t n, index_t k,
                            double on, double off, const double* pre, double pre_all, double div,
                            T* gz, double* out);

  /// gz[i, c] = [c = labels[i]] − softmax(z_i)_c, evaluated in T as the host
  /// (∂ log p(y | x)/∂z, the seed of classifier guidance); labels in [0, k).
  template <class T>
  static void log_prob_logit_grad(const cuda& dev, const T* z, const int* labels, index_t n,
                                  index_t k, T* gz);

  /// One reverse-diffusion update of x [n] from the score s, in place, with
  ///   x0 = clamp((x + one_m_ab s) inv_sqrt_ab)            (clamped when clip),
  ///   ddpm: x = c_x0 x0 + c_x x + sd z
  ///   ddim: x = c_x0 x0 + c_eps eps + sd z, eps = −sqrt_one_m_ab s, or
  ///         (x − sqrt_ab x0) inv_sqrt_one_m_ab from the clamped x0 when clip
  /// (z is read only when sd > 0; it may be null otherwise).
  template <class T>
  struct step_coefficients {
    bool ddim = false;
    T inv_sqrt_ab{}, one_m_ab{}, sqrt_one_m_ab{}, sqrt_ab{}, inv_sqrt_one_m_ab{};
    T c_x0{}, c_x{}, c_eps{}, sd{};
    bool clip = false;
    T lo{}, hi{};
  };
  template <class T>
  static void reverse_step(const cuda& dev, T* x, const T* s, const T* z, index_t n,
                           const step_coefficients<T>& c);

  /// x[i] = a known[i] + b x[i] where mask[i % period] != 0 (x [n]).
  template <class T>
  static void blend_known(const cuda& dev, T* x, const T* known, const T* mask, index_t n,
                          index_t period, T a, T b);
  /// x[i] = a known[i] + b z[c(i)] where mask[i % period] != 0, with c(i) the
  /// number of known entries before i: (i / period) known_per_period +
  /// rank[i % period]; with z null, x[i] = known[i].
  template <class T>
  static void replace_known(const cuda& dev, T* x, const T* known, const T* mask, const int* rank,
                            index_t n, index_t period, index_t known_per_period, T a, T b,
                            const T* z);

  /// The first of `chains` chains of `per` elements that holds a NaN or an
  /// Inf, or −1; waits for the stream (one word read back).
  template <class T>
  static index_t first_nonfinite_chain(const cuda& dev, const T* x, index_t chains, index_t per,
                                       status_buffer& status);
  /// Whether a and b hold the same bits (n elements); waits for the stream.
  template <class T>
  static bool bitwise_equal(const cuda& dev, const T* a, const T* b, index_t n,
                            status_buffer& status);
};

}  // namespace ebm
