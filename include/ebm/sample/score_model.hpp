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
//
// Devices: the tensors are tensor<T, D> with D the model's device_type
// (ebm::cpu when the model names none), so a model built on ebm::cuda
// drives the samplers with device tensors.
#include <concepts>
#include <span>
#include <type_traits>

#include "../core/tensor.hpp"
#include "../device/cpu/elementwise.hpp"

namespace ebm {

namespace detail {
template <class M>
struct model_device {
  using type = cpu;
};
template <class M>
  requires requires { typename M::device_type; }
struct model_device<M> {
  using type = typename M::device_type;
};
}  // namespace detail

/// The device a score model's tensors live on: M::device_type, else ebm::cpu.
template <class M>
using model_device_t = typename detail::model_device<M>::type;

/// The tensor type a score model takes and returns.
template <class M>
using model_tensor_t = tensor<typename M::value_type, model_device_t<M>>;

template <class M>
concept time_score_model = requires(M& m, const model_tensor_t<M>& x, int t, model_tensor_t<M>& out) {
  typename M::value_type;
  m.score(x, t, out);
};

template <class M>
concept guided_score_model =
    time_score_model<M> && requires(M& m, const model_tensor_t<M>& x, int t, std::span<const int> labels,
                                    model_tensor_t<M>& out) {
      m.class_log_prob_grad(x, t, labels, out);
    };

template <class E>
concept time_energy_function = requires(E& e, const model_tensor_t<E>& x, int t, model_tensor_t<E>& g) {
  typename E::value_type;
  { e.energy_and_grad(x, t, g) } -> std::convertible_to<const model_tensor_t<E>&>;
};

/// Adapts a time-conditioned energy to a score model (score = -grad E); refers
/// to the energy, does not own it.
template <class E>
class energy_score {
  static_assert(time_energy_function<E>, "energy_score: E needs energy_and_grad(x, t, g)");

 public:
  using value_type = typename E::value_type;
  using device_type = model_device_t<E>;
  using tensor_type = tensor<value_type, device_type>;

  explicit energy_score(E& energy) : e_(&energy) {}

  void score(const tensor_type& x, int t, tensor_type& out) {
    e_->energy_and_grad(x, t, out);
    if constexpr (std::is_same_v<device_type, cpu>) {
      for (value_type& v : out) v = -v;
    } else {
      elementwise<device_type>::scale(out.device(), value_type(-1), out.data(), out.data(), out.size());
    }
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
