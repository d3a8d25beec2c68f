// Device Langevin samplers: the one-launch Gaussian kernel against the host
// sampler (same noise) and against the exact moments, a network chain
// against the host sampler, and CUDA-graph replay against eager execution.
#include <doctest/doctest.h>

#include <Eigen/Dense>
#include <ebm/energy/gaussian.hpp>
#include <ebm/energy/network.hpp>
#include <ebm/nn/conv2d.hpp>
#include <ebm/nn/linear.hpp>
#include <ebm/nn/sequential.hpp>
#include <ebm/sample/langevin.hpp>

#include "common.hpp"
#include "network_check.hpp"

using namespace ebm;
using namespace ebm::cuda_test;

namespace {

template <class T>
tensor<T> mean_tensor(const gaussian<T>& g) {
  tensor<T> m(shape{g.dim()});
  for (index_t i = 0; i < g.dim(); ++i) m[i] = g.mean()(i);
  return m;
}
template <class T>
tensor<T> precision_tensor(const gaussian<T>& g) {
  const index_t D = g.dim();
  tensor<T> p(shape{D, D});
  for (index_t i = 0; i < D; ++i)
    for (index_t j = 0; j < D; ++j) p(i, j) = g.precision()(i, j);
  return p;
}

template <class T>
void check_gaussian_against_host() {
  CAPTURE(sizeof(T));
  const index_t N = 32, D = 6;
  const int steps = 40;
  const T s(0.2);
  typename gaussian<T>::vector mu(D);
  mu << T(1), T(-1), T(0.5), T(0), T(0.25), T(-0.75);
  gaussian<T> target(mu, gaussian<T>::ar1(D, T(0.6)).covariance());
  philox init(1);
  tensor<T> xh = uniform<T>(shape{N, D}, init);
  auto xd = to_device(xh);

  philox host_rng(99, 2), dev_rng(99, 2);
  host_rng.advance(3);
  dev_rng.advance(3);
  auto sampler = unadjusted_langevin(s);
  sampler.run(target, xh, steps, host_rng);

  const auto m = to_device(mean_tensor(target)), P = to_device(precision_tensor(target));
  gaussian_langevin(xd, m, P, steps, schedule::constant<T>(s), schedule::constant<T>(s), dev_rng);
  CHECK(dev_rng.offset() == host_rng.offset());
  CHECK(max_rel_diff(xd, xh) <= tol<T>(1e-4, 1e-11));
}

template <class T, class D>
auto small_energy_net() {
  return nn::sequential{nn::conv2d<T, D, act::swish>(1, 3, 3, 1, 1),
                        nn::linear<T, D>(3 * 6 * 6, 1)};
}

}  // namespace

TEST_CASE("cuda: one-launch Gaussian Langevin follows the host sampler step by step") {
  EBM_REQUIRE_CUDA_DEVICE();
  check_gaussian_against_host<double>();
  check_gaussian_against_host<float>();
}

TEST_CASE("cuda: one-launch Gaussian Langevin reproduces the mean and covariance") {
  EBM_REQUIRE_CUDA_DEVICE();
  const index_t N = 32768, D = 4;
  const int steps = 1000;
  const double s = 0.05;
  Eigen::VectorXd mu(D);
  mu << 1.0, -1.0, 0.5, 0.0;
  const Eigen::MatrixXd sigma = gaussian<double>::ar1(D, 0.5).covariance();
  gaussian<float> target(mu.cast<float>(), sigma.cast<float>());

  tensor<float, cuda> x(shape{N, D});
  philox rng(2024);
  fill_uniform(x, rng, -1.0f, 1.0f);
  gaussian_langevin(x, to_device(mean_tensor(target)), to_device(precision_tensor(target)), steps,
                    schedule::constant<float>(float(s)), schedule::constant<float>(float(s)), rng);
  const tensor<float> h = to_host(x);

  Eigen::MatrixXd X(N, D);
  for (index_t i = 0; i < N; ++i)
    for (index_t j = 0; j < D; ++j) X(i, j) = h(i, j);
  REQUIRE(X.allFinite());
  const Eigen::VectorXd mean = X.colwise().mean();
  const Eigen::MatrixXd centred = X.rowwise() - mean.transpose();
  const Eigen::MatrixXd cov = centred.transpose() * centred / double(N - 1);
  // The unadjusted Langevin chain's exact stationary covariance for a
  // Gaussian: (P - (s/4) P^2)^-1 = Sigma + (s/4) I + O(s^2).
  const Eigen::MatrixXd P = sigma.inverse();
  const Eigen::MatrixXd ula = (P - (s / 4) * P * P).inverse();
  for (index_t i = 0; i < D; ++i) {
    CAPTURE(i);
    CHECK(std::abs(mean(i) - mu(i)) <= 5 * std::sqrt(ula(i, i) / double(N)));
    for (index_t j = 0; j < D; ++j) {
      CAPTURE(j);
      CHECK(std::abs(cov(i, j) - ula(i, j)) <= 0.04);
      CHECK(std::abs(cov(i, j) - sigma(i, j)) <= 0.06);
    }
  }
}

TEST_CASE("cuda: a network Langevin chain on the device follows the host sampler") {
  EBM_REQUIRE_CUDA_DEVICE();
  auto host_net = small_energy_net<double, cpu>();
  auto dev_net = small_energy_net<double, cuda>();
  copy_params<double>(host_net, dev_net);
  philox init(5);
  tensor<double> xh = uniform<double>(shape{4, 1, 6, 6}, init);
  auto xd = to_device(xh);

  const int steps = 8;
  const schedule::constant<double> step(0.05);
  const schedule::cf_ebm_decay<double> noise(2e-2);
  philox host_rng(77, 4);
  host_rng.advance(10);
  cuda_langevin_chain chain(dev_net, steps, step, noise, host_rng);

  auto energy = energy_of(host_net);
  langevin<double, schedule::constant<double>, schedule::cf_ebm_decay<double>> sampler(step, noise);
  for (int run = 0; run < 2; ++run) {  // the second run continues the noise stream
    CAPTURE(run);
    sampler.run(energy, xh, steps, host_rng);
    chain.run(xd);
    CHECK(max_rel_diff(xd, xh) <= 1e-10);
    CHECK(chain.state().offset() == host_rng.offset());
  }
}

TEST_CASE("cuda: a captured Langevin chain replays exactly as eager execution") {
  EBM_REQUIRE_CUDA_DEVICE();
  auto net = small_energy_net<float, cuda>();
  tensor<float, cuda> x0(shape{8, 1, 6, 6});
  philox init(9);
  fill_uniform(x0, init, -1.0f, 1.0f);
  tensor<float, cuda> eager(x0), replay(x0);

  const philox rng(31, 1);
  const auto step = schedule::constant<float>(0.1f);
  const auto noise = schedule::cf_ebm_decay<float>(2e-2f);
  cuda_langevin_chain a(net, 10, step, noise, rng), b(net, 10, step, noise, rng);
  a.run(eager);
  a.run(eager);

  cuda_graph graph = b.capture(replay);
  CHECK(graph.node_count() > 0);
  CHECK(bit_mismatches(to_host(replay), to_host(x0)) == 0);  // capturing runs nothing
  graph.launch();
  graph.launch();

  const tensor<float> e = to_host(eager), r = to_host(replay);
  CHECK(max_rel_diff(r, e) <= 1e-6);
  MESSAGE("graph replay vs eager: ", bit_mismatches(r, e), " of ", r.size(),
          " elements differ in their bits");
  CHECK(b.state().offset() == a.state().offset());
  CHECK(a.state().offset() == rng.offset() + 2 * 10 * detail::noise_blocks<float>(x0.size()));
  CHECK(max_rel_diff(r, to_host(x0)) > 1e-3);  // the chain moved
}

TEST_CASE("cuda: graph capture rejects allocations and survives a throwing body") {
  EBM_REQUIRE_CUDA_DEVICE();
  const cuda dev = cuda::create();
  tensor<float, cuda> t(shape{64}, dev);
  CHECK_THROWS_AS(cuda_graph::capture(dev,
                                      [&] {
                                        void* p = nullptr;
                                        EBM_CUDA_CHECK(cudaMallocAsync(&p, 256, dev.stream()));
                                        EBM_CUDA_CHECK(cudaFreeAsync(p, dev.stream()));
                                      }),
                  ebm::error);
  CHECK_THROWS_AS(cuda_graph::capture(dev,
                                      [&] {
                                        t.zero();
                                        throw ebm::error("body failed");
                                      }),
                  ebm::error);
  // The stream is usable again, and a valid capture works.
  t.fill(3.0f);
  for (float v : to_host(t)) CHECK(v == 3.0f);
  cuda_graph g = cuda_graph::capture(dev, [&] { t.fill(5.0f); });
  for (float v : to_host(t)) CHECK(v == 3.0f);
  g.launch();
  for (float v : to_host(t)) CHECK(v == 5.0f);
}
