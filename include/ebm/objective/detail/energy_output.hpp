#pragma once
// Checks shared by the objectives on what a network returned.  Most
// objectives do their per-sample arithmetic on host memory, so they accept
// networks on the cpu device; the static_assert names that limit.
// maximum_likelihood also runs on other devices (training_kernels<D>).
#include <type_traits>

#include "../../core/error.hpp"
#include "../../core/tensor.hpp"
#include "../../device/cpu/device.hpp"

namespace ebm::objective::detail {

template <class D>
inline constexpr bool host_device = std::is_same_v<D, cpu>;

template <class Net>
constexpr void require_host_network() {
  static_assert(host_device<typename Net::device_type>,
                "ebm objectives compute their per-sample terms on the host: the network must "
                "live on ebm::cpu");
}

/// For the objectives that also run on other devices (maximum_likelihood):
/// the network must live on the device of the objective's tensors.
template <class Net, class D>
constexpr void require_network_on() {
  static_assert(std::is_same_v<typename Net::device_type, D>,
                "the network must live on the objective's device (its device_type must be the objective's D)");
}

/// Throws unless y holds exactly one energy per sample of x ([N] or [N, 1]).
template <class T, class D>
void require_energies(const tensor<T, D>& y, const tensor<T, D>& x, const char* who) {
  EBM_REQUIRE(y.rank() >= 1 && y.extent(0) == x.extent(0) && y.size() == x.extent(0), who,
              ": the network must output one energy per sample ([N] or [N, 1]); for input ",
              x.shape(), " it returned ", y.shape());
}

}  // namespace ebm::objective::detail
