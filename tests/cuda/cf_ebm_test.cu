// A whole CF-EBM energy on the device against the same energy on the host:
// FromRGB, residual Primal blocks with spectral norm and Swish, the fade-in
// branch, the top block and linear head, in all four derivative passes and
// every parameter gradient, at a settled and at a fading stage; then a short
// Langevin chain of that energy with the same noise on both.
#include <doctest/doctest.h>

#include <ebm/energy/cf_ebm.hpp>
#include <ebm/energy/network.hpp>
#include <ebm/sample/langevin.hpp>
#include <string_view>
#include <vector>

#include "common.hpp"
#include "cf_ebm_twins.hpp"
#include "network_check.hpp"

using namespace ebm;
using namespace ebm::cuda_test;

namespace {

template <class T>
void check_stages(double tolerance) {
  CAPTURE(sizeof(T));
  twins<T> t;
  for (auto [stage, beta] : {std::pair{0, 1.0}, std::pair{1, 1.0}, std::pair{2, 0.4}, std::pair{2, 1.0}}) {
    CAPTURE(stage);
    CAPTURE(beta);
    t.set_stage(stage, T(beta));
    const index_t r = t.host.resolution();
    check_network<T>(t.host, t.dev, shape{3, 1, r, r}, tolerance, 11 + stage);
  }
}

}  // namespace

TEST_CASE("cuda: a whole CF-EBM energy on the device matches the host in all four passes") {
  EBM_REQUIRE_CUDA_DEVICE();
  check_stages<double>(1e-10);
  check_stages<float>(2e-4);
}

TEST_CASE("cuda: a CF-EBM Langevin chain on the device follows the host chain") {
  EBM_REQUIRE_CUDA_DEVICE();
  twins<double> t;
  t.set_stage(2, 1.0);
  philox init(8);
  tensor<double> xh = uniform<double>(shape{4, 1, 16, 16}, init);
  auto xd = to_device(xh);
  const int steps = 6;
  const schedule::constant<double> step(1.0);  // CF-EBM's sampler (appendix A.2)
  const schedule::cf_ebm_decay<double> noise(2e-2);
  philox host_rng(21, 3);
  cuda_langevin_chain chain(t.dev, steps, step, noise, host_rng);
  auto energy = energy_of(t.host);
  langevin<double, schedule::constant<double>, schedule::cf_ebm_decay<double>> sampler(step, noise);
  sampler.run(energy, xh, steps, host_rng);
  chain.run(xd);
  CHECK(max_rel_diff(xd, xh) <= 1e-9);
  CHECK(chain.state().offset() == host_rng.offset());
}

TEST_CASE("cuda: a Langevin chain through the spectrally normalised CF-EBM energy is captured and replays as eager") {
  // sigma stays on the device (spectral_kernels<cuda>), so no pass of the
  // chain synchronises the stream and capture succeeds.
  EBM_REQUIRE_CUDA_DEVICE();
  twins<float> t;
  t.set_stage(2, 1.0f);
  philox init(12);
  const tensor<float> x0 = uniform<float>(shape{4, 1, 16, 16}, init);
  auto eager = to_device(x0), replay = to_device(x0);
  const philox rng(41, 2);
  const auto step = schedule::constant<float>(1.0f);
  const auto noise = schedule::cf_ebm_decay<float>(2e-2f);
  cuda_langevin_chain a(t.dev, 5, step, noise, rng), b(t.dev, 5, step, noise, rng);
  a.run(eager);  // the eager run also sizes every buffer before the capture
  cuda_graph graph = b.capture(replay);
  CHECK(bit_mismatches(to_host(replay), x0) == 0);  // capturing runs nothing
  graph.launch();
  const tensor<float> e = to_host(eager), r = to_host(replay);
  CHECK(max_rel_diff(r, e) <= 1e-5);
  CHECK(max_rel_diff(r, x0) > 1e-3);  // the chain moved
}
