// elementwise<cuda>, blas<cuda> and spatial_kernels<cuda> against their host
// counterparts, and dense layers on the device against the same layers on
// the host (all four derivative passes).
#include <doctest/doctest.h>

#include <ebm/device/cpu/blas.hpp>
#include <ebm/device/cpu/elementwise.hpp>
#include <ebm/nn/elementwise.hpp>
#include <ebm/nn/linear.hpp>
#include <ebm/nn/pool.hpp>
#include <ebm/nn/sequential.hpp>
#include <ebm/nn/upsample.hpp>
#include <limits>
#include <string>

#include "common.hpp"
#include "network_check.hpp"

using namespace ebm;
using namespace ebm::cuda_test;

namespace {

template <class T, class Act>
void check_activation(const Act& a) {
  CAPTURE(std::string(Act::name));
  CAPTURE(sizeof(T));
  const cuda dev;
  const cpu host;
  philox rng(5);
  const index_t n = 3001;
  const tensor<T> x = uniform<T>(shape{n}, rng, T(-6), T(6));
  const tensor<T> dx = uniform<T>(shape{n}, rng), gy = uniform<T>(shape{n}, rng),
                  dgy = uniform<T>(shape{n}, rng);
  tensor<T> y(shape{n}), d(shape{n}), out(shape{n});
  elementwise<cpu>::act_forward(host, a, x.data(), y.data(), d.data(), n);

  const auto xd = to_device(x), dxd = to_device(dx), gyd = to_device(gy), dgyd = to_device(dgy);
  tensor<T, cuda> yd(shape{n}), dd(shape{n}), outd(shape{n});
  elementwise<cuda>::act_forward(dev, a, xd.data(), yd.data(), dd.data(), n);
  CHECK(max_rel_diff(yd, y) <= tol<T>());
  CHECK(max_rel_diff(dd, d) <= tol<T>());

  elementwise<cpu>::mul(host, d.data(), gy.data(), out.data(), n);
  elementwise<cuda>::mul(dev, dd.data(), gyd.data(), outd.data(), n);
  CHECK(max_rel_diff(outd, out) <= tol<T>());

  elementwise<cpu>::act_backward_tangent(host, a, x.data(), d.data(), dx.data(), gy.data(),
                                         dgy.data(), out.data(), n);
  elementwise<cuda>::act_backward_tangent(dev, a, xd.data(), dd.data(), dxd.data(), gyd.data(),
                                          dgyd.data(), outd.data(), n);
  CHECK(max_rel_diff(outd, out) <= tol<T>());
}

template <class T>
void check_vector_ops() {
  CAPTURE(sizeof(T));
  const cuda dev;
  const cpu host;
  philox rng(9);
  const index_t n = 70001;
  const tensor<T> x = uniform<T>(shape{n}, rng);
  tensor<T> y = uniform<T>(shape{n}, rng), out(shape{n});
  const auto xd = to_device(x);
  auto yd = to_device(y);
  tensor<T, cuda> outd(shape{n});

  elementwise<cpu>::axpby(host, T(0.7), x.data(), T(-1.3), y.data(), out.data(), n);
  elementwise<cuda>::axpby(dev, T(0.7), xd.data(), T(-1.3), yd.data(), outd.data(), n);
  CHECK(max_rel_diff(outd, out) <= tol<T>(1e-6, 1e-15));

  elementwise<cpu>::scale(host, T(-2.5), x.data(), out.data(), n);
  elementwise<cuda>::scale(dev, T(-2.5), xd.data(), outd.data(), n);
  CHECK(max_rel_diff(outd, out) == 0);

  elementwise<cpu>::axpy(host, T(0.3), x.data(), y.data(), n);
  elementwise<cuda>::axpy(dev, T(0.3), xd.data(), yd.data(), n);
  CHECK(max_rel_diff(yd, y) <= tol<T>(1e-6, 1e-15));
}

/// C = alpha op(A) op(B) + beta C on padded row-major buffers.
template <class T>
void check_gemm(bool ta, bool tb, index_t M, index_t N, index_t K, T alpha, T beta) {
  CAPTURE(ta);
  CAPTURE(tb);
  CAPTURE(M);
  CAPTURE(N);
  CAPTURE(K);
  CAPTURE(beta);
  const cuda dev;
  philox rng(17);
  const index_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
  const index_t lda = ac + 3, ldb = bc + 1, ldc = N + 2;
  const tensor<T> A = uniform<T>(shape{std::max<index_t>(ar, 1), lda}, rng);
  const tensor<T> B = uniform<T>(shape{std::max<index_t>(br, 1), ldb}, rng);
  tensor<T> C = uniform<T>(shape{M, ldc}, rng);
  if (beta == T(0)) C.fill(std::numeric_limits<T>::quiet_NaN());  // must not be read
  const auto Ad = to_device(A), Bd = to_device(B);
  auto Cd = to_device(C);
  blas<cpu>::gemm(cpu{}, ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  blas<cuda>::gemm(dev, ta, tb, M, N, K, alpha, Ad.data(), lda, Bd.data(), ldb, beta, Cd.data(),
                   ldc);
  const tensor<T> got = to_host(Cd);
  double worst = 0;
  for (index_t i = 0; i < M; ++i)
    for (index_t j = 0; j < N; ++j) {
      const double r = C[i * ldc + j], g = got[i * ldc + j];
      REQUIRE(std::isfinite(g));
      worst = std::max(worst, std::abs(r - g) / (1.0 + std::abs(r)));
    }
  CHECK(worst <= tol<T>(1e-5, 1e-13) * double(std::max<index_t>(K, 1)));
  // the padding between rows is never written
  if (beta != T(0))
    for (index_t i = 0; i < M; ++i)
      for (index_t j = N; j < ldc; ++j) CHECK(got[i * ldc + j] == C[i * ldc + j]);
}

template <class T>
void check_bias_ops() {
  CAPTURE(sizeof(T));
  const cuda dev;
  philox rng(23);
  for (index_t rows : {1, 7, 300})
    for (index_t cols : {1, 31, 33, 130}) {
      CAPTURE(rows);
      CAPTURE(cols);
      const tensor<T> m = uniform<T>(shape{rows, cols}, rng);
      const tensor<T> b = uniform<T>(shape{cols}, rng);
      tensor<T> acc = uniform<T>(shape{cols}, rng), fresh(shape{cols});
      const auto md = to_device(m);
      auto accd = to_device(acc);
      tensor<T, cuda> freshd(shape{cols});
      blas<cpu>::sum_rows(cpu{}, m.data(), rows, cols, acc.data(), true);
      blas<cuda>::sum_rows(dev, md.data(), rows, cols, accd.data(), true);
      CHECK(max_rel_diff(accd, acc) <= tol<T>(1e-5, 1e-13));
      blas<cpu>::sum_rows(cpu{}, m.data(), rows, cols, fresh.data(), false);
      blas<cuda>::sum_rows(dev, md.data(), rows, cols, freshd.data(), false);
      CHECK(max_rel_diff(freshd, fresh) <= tol<T>(1e-5, 1e-13));

      tensor<T> mm(m);
      auto mmd = to_device(m);
      const auto bd = to_device(b);
      blas<cpu>::add_row(cpu{}, mm.data(), rows, cols, b.data());
      blas<cuda>::add_row(dev, mmd.data(), rows, cols, bd.data());
      CHECK(max_rel_diff(mmd, mm) == 0);
    }
}

}  // namespace

TEST_CASE("cuda: elementwise kernels match elementwise<cpu> for every activation") {
  EBM_REQUIRE_CUDA_DEVICE();
  check_activation<float>(act::identity{});
  check_activation<float>(act::relu{});
  check_activation<float>(act::leaky_relu{0.1});
  check_activation<float>(act::swish{});
  check_activation<float>(act::gelu{});
  check_activation<float>(act::celu{0.7});
  check_activation<float>(act::softplus{});
  check_activation<float>(act::tanh{});
  check_activation<float>(act::sigmoid{});
  check_activation<double>(act::swish{});
  check_activation<double>(act::gelu{});
  check_activation<double>(act::celu{1.3});
  check_activation<double>(act::softplus{});
  check_activation<double>(act::tanh{});
  check_activation<double>(act::sigmoid{});
  check_vector_ops<float>();
  check_vector_ops<double>();
}

TEST_CASE("cuda: cuBLAS GEMM on row-major operands matches blas<cpu>") {
  EBM_REQUIRE_CUDA_DEVICE();
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      check_gemm<double>(ta, tb, 5, 7, 3, 1.0, 0.0);
      check_gemm<double>(ta, tb, 33, 17, 65, -0.5, 1.0);
      check_gemm<double>(ta, tb, 8, 9, 10, 2.0, 0.5);
      check_gemm<float>(ta, tb, 64, 48, 129, 1.0, 0.0);
      check_gemm<float>(ta, tb, 3, 1, 200, 1.0, 1.0);
    }
  // K = 0: C = beta C
  check_gemm<double>(false, false, 4, 5, 0, 1.0, 0.0);
  check_gemm<double>(false, false, 4, 5, 0, 1.0, 0.5);
  check_gemm<float>(true, true, 4, 5, 0, 1.0, 1.0);
}

TEST_CASE("cuda: sum_rows and add_row match blas<cpu>") {
  EBM_REQUIRE_CUDA_DEVICE();
  check_bias_ops<float>();
  check_bias_ops<double>();
}

TEST_CASE("cuda: pooling and upsampling kernels match the host functions") {
  EBM_REQUIRE_CUDA_DEVICE();
  const cuda dev;
  philox rng(41);
  const tensor<float> x = uniform<float>(shape{2, 3, 6, 10}, rng);
  const auto xd = to_device(x);
  const tensor<float> pooled = nn::avg_pool2x2(x);
  CHECK(max_rel_diff(nn::avg_pool2x2(xd), pooled) == 0);  // same formula, exact
  tensor<float> gx(x.shape());
  const tensor<float> gy = uniform<float>(pooled.shape(), rng);
  nn::avg_pool2x2_backward<float>(gy.view(), gx.view());
  tensor<float, cuda> gxd(x.shape());
  const auto gyd = to_device(gy);
  nn::avg_pool2x2_backward<float>(gyd.view(), gxd.view(), dev);
  CHECK(max_rel_diff(gxd, gx) == 0);

  for (auto mode : {nn::upsample_mode::nearest, nn::upsample_mode::bilinear})
    for (const shape& s : {shape{2, 3, 5, 7}, shape{1, 2, 1, 4}, shape{1, 1, 3, 1}}) {
      CAPTURE(static_cast<int>(mode));
      CAPTURE(s);
      const tensor<double> u = uniform<double>(s, rng);
      const auto ud = to_device(u);
      const tensor<double> up = nn::upsample2x(u, mode);
      CHECK(max_rel_diff(nn::upsample2x(ud, mode), up) <= 1e-15);
      const tensor<double> g = uniform<double>(up.shape(), rng);
      tensor<double> gu(s);
      nn::upsample2x_backward<double>(g.view(), gu.view(), mode);
      tensor<double, cuda> gud(s);
      const auto gd = to_device(g);
      nn::upsample2x_backward<double>(gd.view(), gud.view(), mode, dev);
      CHECK(max_rel_diff(gud, gu) <= 1e-14);
    }

  // The device layer of upsampling runs the kernels (found by argument-
  // dependent lookup through nn::upsample_mode).
  nn::upsample2d<float> host_up(nn::upsample_mode::bilinear);
  nn::upsample2d<float, cuda> dev_up(nn::upsample_mode::bilinear);
  CHECK(max_rel_diff(dev_up.forward(xd), host_up.forward(x)) <= 1e-6);
}

TEST_CASE("cuda: dense layers on the device match the host in all four passes") {
  EBM_REQUIRE_CUDA_DEVICE();
  {
    nn::sequential host{nn::linear<double>(12, 16), nn::gelu<double>{}, nn::linear<double>(16, 8),
                        nn::swish<double>{}, nn::linear<double>(8, 1)};
    nn::sequential dev{nn::linear<double, cuda>(12, 16), nn::gelu<double, cuda>{},
                       nn::linear<double, cuda>(16, 8), nn::swish<double, cuda>{},
                       nn::linear<double, cuda>(8, 1)};
    check_network<double>(host, dev, shape{9, 12}, 1e-11, 31);
  }
  {
    nn::sequential host{nn::linear<float>(20, 32), nn::softplus<float>{},
                        nn::linear<float>(32, 3)};
    nn::sequential dev{nn::linear<float, cuda>(20, 32), nn::softplus<float, cuda>{},
                       nn::linear<float, cuda>(32, 3)};
    check_network<float>(host, dev, shape{17, 4, 5}, 1e-4, 31);
  }
}
