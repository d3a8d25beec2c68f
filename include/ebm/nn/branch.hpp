#pragma once
// Two-branch blocks over one input: y = a·A(x) + b·B(x).
//
//   nn::residual{main, skip}     a = 1, b = skip scale (default 1)
//   nn::blend{primal, fade}      a = beta, b = 1 - beta: the CF-EBM fade-in
//                                Expand(x) = β·Primal(x) + (1−β)·Fade(x)
//   nn::identity<T>              the plain skip connection
//
// Every pass is linear in the branches, so all four operations are sums of
// the branches' operations with the same weights.  A branch whose weight is
// exactly 0 is not evaluated at all (a finished fade-in costs nothing), and
// its parameters receive no gradient.
//
// When the second branch can add its result into a sum (forward_add: a
// sequence ending in a host convolution without activation; backward_add: a
// sequence starting with average pooling, as in CF-EBM's residual blocks)
// and the first branch's weight is 1, forward and backward write the sum
// directly instead of the branch's own output and a separate pass over both
// (for CF-EBM at 32x32 that is one activation-sized read and write fewer
// per residual block and pass).  The numbers are the same.
#include <string_view>
#include <utility>

#include "../device/cpu/elementwise.hpp"
#include "init.hpp"
#include "layer.hpp"

namespace ebm::nn {

template <class T = float, class D = cpu>
class identity {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;
  const tensor_type& forward(const tensor_type& x) { return x; }
  const tensor_type& backward(const tensor_type& gy, grad = grad::input) { return gy; }
  const tensor_type& forward_tangent(const tensor_type& dx) { return dx; }
  const tensor_type& backward_tangent(const tensor_type& dgy, grad = grad::input) { return dgy; }
};

template <class A, class B>
class branch_sum {
 public:
  using value_type = typename A::value_type;
  using device_type = typename A::device_type;
  using tensor_type = tensor<value_type, device_type>;
  using T = value_type;
  static_assert(std::is_same_v<value_type, typename B::value_type> &&
                    std::is_same_v<device_type, typename B::device_type>,
                "branch_sum: both branches must share scalar and device");

  branch_sum(A a, B b, T wa, T wb, const char* name_a, const char* name_b, device_type dev = {})
      : a_(std::move(a)), b_(std::move(b)), wa_(wa), wb_(wb), na_(name_a), nb_(name_b), dev_(dev) {}

  A& first() { return a_; }
  B& second() { return b_; }
  T weight_first() const { return wa_; }
  T weight_second() const { return wb_; }
  void set_weights(T wa, T wb) { wa_ = wa, wb_ = wb; }

  const tensor_type& forward(const tensor_type& x) {
    if constexpr (requires(B& b, const tensor_type& t, tensor_type& o) { b.forward_add(t, t, T(1), o); }) {
      if (wa_ == T(1) && wb_ != T(0)) {
        const tensor_type& ya = a_.forward(x);
        return fused("forward", ya, [&]() -> const tensor_type& { return b_.forward_add(x, ya, wb_, y_); });
      }
    }
    return combine(wa_ != T(0) ? &a_.forward(x) : nullptr, wb_ != T(0) ? &b_.forward(x) : nullptr,
                   y_, "forward");
  }
  const tensor_type& backward(const tensor_type& gy, grad g = grad::input) {
    if constexpr (requires(B& b, const tensor_type& t, tensor_type& o) { b.backward_add(t, grad::input, t, o); }) {
      if (wa_ == T(1) && wb_ != T(0) && wants_input(g)) {
        const tensor_type& ga = a_.backward(gy, g);
        return fused("backward", ga,
                     [&]() -> const tensor_type& { return b_.backward_add(scaled(gy, wb_, sb_), g, ga, gx_); });
      }
    }
    const tensor_type* ga = wa_ != T(0) ? &a_.backward(scaled(gy, wa_, sa_), g) : nullptr;
    const tensor_type* gb = wb_ != T(0) ? &b_.backward(scaled(gy, wb_, sb_), g) : nullptr;
    if (!wants_input(g)) return gx_;
    return combine(ga, gb, gx_, "backward", T(1), T(1));
  }
  const tensor_type& forward_tangent(const tensor_type& dx) {
    return combine(wa_ != T(0) ? &a_.forward_tangent(dx) : nullptr,
                   wb_ != T(0) ? &b_.forward_tangent(dx) : nullptr, dy_, "forward_tangent");
  }
  const tensor_type& backward_tangent(const tensor_type& dgy, grad g = grad::input) {
    const tensor_type* ga = wa_ != T(0) ? &a_.backward_tangent(scaled(dgy, wa_, dsa_), g) : nullptr;
    const tensor_type* gb = wb_ != T(0) ? &b_.backward_tangent(scaled(dgy, wb_, dsb_), g) : nullptr;
    if (!wants_input(g)) return dgx_;
    return combine(ga, gb, dgx_, "backward_tangent", T(1), T(1));
  }

  template <class F>
  void visit_params(F&& f) {
    ebm::visit_params(a_, ebm::detail::prefixed(na_, f));
    ebm::visit_params(b_, ebm::detail::prefixed(nb_, f));
  }
  template <class F>
  void visit_buffers(F&& f) {
    ebm::visit_buffers(a_, ebm::detail::prefixed_buffer(na_, f));
    ebm::visit_buffers(b_, ebm::detail::prefixed_buffer(nb_, f));
  }
  void on_buffers_loaded() {
    ebm::buffers_loaded(a_);
    ebm::buffers_loaded(b_);
  }
  void init(philox& rng) {
    initialize(a_, rng);
    initialize(b_, rng);
  }
  void refresh() {
    ebm::refresh(a_);
    ebm::refresh(b_);
  }

 private:
  // Scales an incoming gradient by the branch weight (no copy for weight 1).
  const tensor_type& scaled(const tensor_type& g, T w, tensor_type& buf) {
    if (w == T(1)) return g;
    buf.resize(g.shape());
    elementwise<device_type>::scale(dev_, w, g.data(), buf.data(), g.size());
    return buf;
  }
  // Runs the second branch's fused sum into the first branch's result ya;
  // its errors name both branches.
  template <class F>
  const tensor_type& fused(const char* pass, const tensor_type& ya, F&& run) {
    try {
      return run();
    } catch (const error& e) {
      throw error(ebm::detail::concat("branch_sum::", pass, ": branch '", nb_, "', summed into the output ",
                                      ya.shape(), " of branch '", na_, "': ", e.what()));
    }
  }
  // out = ca·ya + cb·yb (either may be absent: its weight is 0).
  const tensor_type& combine(const tensor_type* ya, const tensor_type* yb, tensor_type& out,
                             const char* pass) {
    return combine(ya, yb, out, pass, wa_, wb_);
  }
  const tensor_type& combine(const tensor_type* ya, const tensor_type* yb, tensor_type& out,
                             const char* pass, T ca, T cb) {
    if (ya && yb) {
      if (!(ya->shape() == yb->shape()))
        throw error(ebm::detail::concat("branch_sum::", pass, ": the branches '", na_, "' and '", nb_,
                                        "' disagree on the output shape: ", ya->shape(), " vs ",
                                        yb->shape()));
      out.resize(ya->shape());
      elementwise<device_type>::axpby(dev_, ca, ya->data(), cb, yb->data(), out.data(), out.size());
    } else if (ya || yb) {
      const tensor_type& y = ya ? *ya : *yb;
      out.resize(y.shape());
      elementwise<device_type>::scale(dev_, ya ? ca : cb, y.data(), out.data(), y.size());
    } else {
      throw error(ebm::detail::concat("branch_sum::", pass, ": both branch weights are zero"));
    }
    return out;
  }

  A a_;
  B b_;
  T wa_, wb_;
  const char* na_;
  const char* nb_;
  device_type dev_;
  tensor_type y_, gx_, dy_, dgx_;
  // Scaled gy and dgy live in separate buffers: the branches keep pointers to
  // the gy they saw until their backward_tangent has run.
  tensor_type sa_, sb_, dsa_, dsb_;
};

/// y = main(x) + scale · skip(x).
template <class Main, class Skip>
class residual : public branch_sum<Main, Skip> {
  using base = branch_sum<Main, Skip>;

 public:
  residual(Main main, Skip skip, typename base::value_type scale = 1)
      : base(std::move(main), std::move(skip), 1, scale, "main", "skip") {}
};

/// y = beta · primal(x) + (1 - beta) · fade(x)  (CF-EBM's Expand block).
template <class Primal, class Fade>
class blend : public branch_sum<Primal, Fade> {
  using base = branch_sum<Primal, Fade>;
  using T = typename base::value_type;

 public:
  blend(Primal primal, Fade fade, T beta = 0)
      : base(std::move(primal), std::move(fade), beta, 1 - beta, "primal", "fade") {
    set_beta(beta);
  }
  void set_beta(T beta) {
    EBM_REQUIRE(beta >= T(0) && beta <= T(1), "blend: beta must lie in [0, 1], got ", beta);
    this->set_weights(beta, T(1) - beta);
  }
  T beta() const { return this->weight_first(); }
  Primal& primal() { return this->first(); }
  Fade& fade() { return this->second(); }
};

}  // namespace ebm::nn
