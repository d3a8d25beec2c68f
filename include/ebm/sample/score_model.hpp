#pragma once
// Time-conditioned score models: what reverse diffusion (sample/diffusion.hpp)
// is driven by.  For noise level (timestep) t of a noise_schedule:
//
//   void score(const tensor<T>& x, int t, tensor<T>& out);
//       out = grad_x log p_t(x) = -grad_x E(x, t), shape of x;
//   void class_log_prob_grad(const tensor<T>& x, int t, std::span<const int> labels, tensor<T>& out);
//       out = grad_x log p_t(y = labels[i] | x_i) (classifier guidance; optional).
//
// A time-conditioned energy (energy_and_grad(x, t, g), e.g. EGC's free
// energy -logsumexp_y f(x, t)[y]) becomes a score model through
// energy_score<E>, which forwards class_log_prob_grad when E has it.
#include <concepts>
#include <span>

#include "../core/tensor.hpp"

namespace ebm {

template <class M>
concept time_score_model = requires(M& m, const tensor<typename M::value_type>& x, int t,
                                    tensor<typename M::value_type>& out) {
  typename M::value_type;
  m.score(x, t, out);
};

template <class M>
concept guided_score_model =
    time_score_model<M> && requires(M& m, const tensor<typename M::value_type>& x, int t,
                                    std::span<const int> labels, tensor<typename M::value_type>& out) {
      m.class_log_prob_grad(x, t, labels, out);
    };

template <class E>
concept time_energy_function = requires(E& e, const tensor<typename E::value_type>& x, int t,
                                        tensor<typename E::value_type>& g) {
  typename E::value_type;
  { e.energy_and_grad(x, t, g) } -> std::convertible_to<const tensor<typename E::value_type>&>;
};

/// Adapts a time-conditioned energy to a score model (score = -grad E); refers
/// to the energy, does not own it.
template <class E>
class energy_score {
  static_assert(time_energy_function<E>, "energy_score: E needs energy_and_grad(x, t, g)");

 public:
  using value_type = typename E::value_type;
  using tensor_type = tensor<value_type>;

  explicit energy_score(E& energy) : e_(&energy) {}

  void score(const tensor_type& x, int t, tensor_type& out) {
    e_->energy_and_grad(x, t, out);
    for (value_type& v : out) v = -v;
  }
  void class_log_prob_grad(const tensor_type& x, int t, std::span<const int> labels, tensor_type& out)
    requires requires(E& e) { e.class_log_prob_grad(x, t, labels, out); }
  {
    e_->class_log_prob_grad(x, t, labels, out);
  }

 private:
  E* e_;
};

}  // namespace ebm
