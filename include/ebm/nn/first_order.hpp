#pragma once
// first_order_scope: while one is alive on a thread, forward passes on that
// thread keep only what backward() needs, not what the tangent passes need
// (forward_tangent / backward_tangent, the exact second derivatives).
//
// A Langevin step or a maximum-likelihood parameter pass is forward +
// backward and nothing else, yet a convolution with a fused activation keeps
// z = conv(x, W) + b for f''(z) in backward_tangent: one more activation-
// sized write per layer and pass (2% of a CF-EBM Langevin step on 2 threads,
// docs/performance.md).  Code that knows no tangent pass follows opens a
// scope around its forward and backward:
//
//   {
//     ebm::first_order_scope first_order;
//     net.forward(x);
//     net.backward(ones, ebm::grad::input);
//   }
//
// network_energy::energy_and_grad (every sampler), maximum_likelihood and
// cross_entropy do so.  Results are bit-identical with and without the scope.
// A tangent pass after a forward that ran inside a scope throws an error
// naming the block, instead of using state that was never written.  Scopes
// nest; the flag is per thread (the pool's workers run kernels, never
// passes).
namespace ebm {

class first_order_scope {
 public:
  first_order_scope() : previous_(flag()) { flag() = true; }
  ~first_order_scope() { flag() = previous_; }
  first_order_scope(const first_order_scope&) = delete;
  first_order_scope& operator=(const first_order_scope&) = delete;

  /// True while a scope is alive on the calling thread.
  static bool active() { return flag(); }

 private:
  static bool& flag() {
    thread_local bool on = false;
    return on;
  }
  bool previous_;
};

}  // namespace ebm
